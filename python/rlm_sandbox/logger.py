"""``RLMLogger``: the trajectory log of ``rlms``, same constructor, methods
and file layout.

One logger writes one JSONL file (``{file_name}_{timestamp}_{id}.jsonl`` in
``log_dir``): a metadata line when the ``RLM`` is created, then one line
per iteration of each completion, in the ``rlms`` log format (our engine's
extra keys sit beside the ``rlms`` ones), so the ``rlms`` visualizer opens
it. Without ``log_dir`` it only keeps the trajectory in memory.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from typing import Any, Dict, List, Optional


class RLMLogger:
    """Captures each completion's trajectory; with ``log_dir``, also appends
    it to a JSONL file."""

    def __init__(self, log_dir: Optional[str] = None, file_name: str = "rlm") -> None:
        self._save_to_disk = log_dir is not None
        self.log_dir = log_dir
        self.log_file_path: Optional[str] = None
        if self._save_to_disk and log_dir:
            os.makedirs(log_dir, exist_ok=True)
            timestamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
            run_id = str(uuid.uuid4())[:8]
            self.log_file_path = os.path.join(log_dir, f"{file_name}_{timestamp}_{run_id}.jsonl")
        self._run_metadata: Optional[Dict[str, Any]] = None
        self._iterations: List[Dict[str, Any]] = []
        self._iteration_count = 0
        self._metadata_logged = False

    def _append(self, entry: Dict[str, Any]) -> None:
        if self._save_to_disk and self.log_file_path:
            with open(self.log_file_path, "a", encoding="utf-8") as f:
                json.dump(entry, f, ensure_ascii=False)
                f.write("\n")

    def log_metadata(self, metadata: Any) -> None:
        """Records the run's metadata (a dict, or an object with
        ``to_dict``), once."""
        if self._metadata_logged:
            return
        self._run_metadata = metadata.to_dict() if hasattr(metadata, "to_dict") else dict(metadata)
        self._metadata_logged = True
        self._append({"type": "metadata", "timestamp": datetime.now().isoformat(), **self._run_metadata})

    def log(self, iteration: Any) -> None:
        """Records one iteration (a dict in the log format, or an object
        with ``to_dict``)."""
        self._iteration_count += 1
        body = iteration.to_dict() if hasattr(iteration, "to_dict") else dict(iteration)
        entry = {**body, "type": "iteration", "iteration": self._iteration_count}
        entry.setdefault("timestamp", datetime.now().isoformat())
        self._iterations.append(entry)
        self._append(entry)

    def clear_iterations(self) -> None:
        """Starts the next completion's trajectory."""
        self._iterations = []
        self._iteration_count = 0

    def get_trajectory(self) -> Optional[Dict[str, Any]]:
        """The metadata and the current completion's iterations, or ``None``
        before any metadata."""
        if self._run_metadata is None:
            return None
        return {"run_metadata": self._run_metadata, "iterations": list(self._iterations)}

    @property
    def iteration_count(self) -> int:
        return self._iteration_count
