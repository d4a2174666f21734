"""EpochIterator: the run's position in its data (pass, cursor, seed), resumable by index."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from epochal._validation import check_int
from epochal.data.arrays import Batch
from epochal.data.sources import ArraySource, IterableSource


class EpochIterator:
    """Hands out the batches of each epoch and owns the run's position in the data.

    With ``steps_per_epoch`` smaller than the data, the iterator continues across epochs
    (Keras); when the data runs out, the epoch ends early with a warning and the next epoch
    starts a new pass.

    State (``state_dict``): ``seed``, ``pass_index`` (passes started so far), ``cursor``
    (batches consumed in the current pass).
    """

    def __init__(
        self,
        source: ArraySource | IterableSource,
        steps_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        self.source = source
        self.steps_per_epoch = check_int(
            "steps_per_epoch", steps_per_epoch, minimum=1, allow_none=True
        )
        self.seed = int(seed)
        self.pass_index = 0
        self.cursor = 0
        self._iterator: Iterator[Batch] | None = None
        self._warned_unseekable = False
        self._skip_to_boundary = False

    @property
    def steps(self) -> int | None:
        """Batches per epoch, when known (``params["steps"]``)."""
        return self.steps_per_epoch or self.source.num_batches

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "pass_index": self.pass_index, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed = int(state["seed"])
        self.pass_index = int(state["pass_index"])
        self.cursor = int(state["cursor"])
        self._iterator = None
        # An input whose order we do not control cannot be rewound to the cursor: the run
        # continues at the next epoch boundary instead of replaying the batches seen.
        self._skip_to_boundary = self.cursor > 0 and not self.source.seekable

    def _open(self) -> Iterator[Batch]:
        return self.source.iterate(self.seed, self.pass_index, self.cursor)

    def _resume_at_boundary(self) -> None:
        self._skip_to_boundary = False
        if not self._warned_unseekable:
            self._warned_unseekable = True
            warnings.warn(
                "Resuming mid-epoch needs an input whose order epochal controls (arrays, a "
                "Dataset, or a DataLoader with an epochal.data.EpochSampler); this one cannot "
                "be rewound, so training resumes at the next epoch boundary.",
                stacklevel=4,
            )
        self._new_pass()

    def epoch(self, start_step: int = 0) -> Iterator[tuple[int, Batch]]:
        """Yields ``(step, batch)`` for one epoch; ``step`` restarts at 0 every epoch, or
        at ``start_step`` when resuming an epoch (the data position comes from the state)."""
        if self._skip_to_boundary:
            self._resume_at_boundary()
            if start_step:
                return
        if self.steps_per_epoch is None:
            yield from self._full_pass()
            return
        step = start_step
        while step < self.steps_per_epoch:
            if self._iterator is None:
                self._iterator = self._open()
            batch = next(self._iterator, None)
            if batch is None:
                self._new_pass()
                warnings.warn(
                    "Your input ran out of data; interrupting training. Make sure that your "
                    "dataset or generator can generate at least `steps_per_epoch * epochs` "
                    "batches.",
                    stacklevel=2,
                )
                return
            self.cursor += 1
            yield step, batch
            step += 1
            if self.source.num_batches is not None and self.cursor >= self.source.num_batches:
                self._new_pass()
                if step < self.steps_per_epoch:
                    warnings.warn(
                        "Your input ran out of data; interrupting training. Make sure that "
                        "your dataset or generator can generate at least "
                        "`steps_per_epoch * epochs` batches.",
                        stacklevel=2,
                    )
                return

    def _full_pass(self) -> Iterator[tuple[int, Batch]]:
        step = self.cursor
        for batch in self._open():
            self.cursor = step + 1
            yield step, batch
            step += 1
        self._new_pass()

    def _new_pass(self) -> None:
        self.pass_index += 1
        self.cursor = 0
        self._iterator = None

    def first_batch(self) -> Batch:
        """A batch to build the model from, without moving the iterator (a one-shot input
        hands the same batch out again as its first)."""
        return self.source.first_batch(self.seed)
