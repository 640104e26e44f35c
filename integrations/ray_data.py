"""Offline scoring on Ray Data: rollouts judged in batches on an actor pool, one judge per replica, in input order.

Two entry points share one replica (`JudgeReplica`: the judge is loaded once per actor, by the backend the
options name, so a judge on vLLM, ``backend="vllm"``, is a replica like one on transformers):

- `score_dataset` takes a ``ray.data.Dataset`` of rollouts (columns ``prompt``, ``completion``, optional
  ``reference``, ``rubric``, ``completion_b``) and returns one with the result columns added: ``score``,
  ``reward``, ``feedback``, ``ok``, ``fallback``, ``error``, ``attempts``, ``cached``, ``truncated``,
  ``distribution`` (an Arrow map of answer -> probability), ``winner`` for pairwise protocols and
  ``judge_output`` with ``raw=True``. Rows keep their order;
- `score_file` is ``reward-judge score --ray``: the JSONL file is read by a Ray Data datasource in chunks of
  ``chunk_size`` lines (read on the driver's node, where the file is), each chunk is judged by a replica with
  the same code as the single-process command (`rollout_file.judge_records`), and the driver writes the
  records in input order: for the same file and chunk size, row for row what ``reward-judge score`` writes.
  With a group protocol (listwise) the datasource reads the file whole and cuts chunks between groups
  (`rollout_file.plan_chunks`), as the single-process command does, so a prompt's rows are judged together.

`score_dataset` judges each batch of ``batch_size`` consecutive rows on its own: with a group protocol a
prompt's rows in two batches are judged as two groups, so a group is whole only when its rows fall in one
batch. `score_file` keeps groups whole.
Input columns named like result columns are kept under ``input_<name>``, as `score_file` keeps fields.

A bad row (a line that is not a JSON object, a missing field, a value the judge refuses) is written in place
with ``ok: false`` and the error, and counted; the job goes on. A job that stops part way resumes through the
shared cache (``cache="/shared/judge-cache.sqlite"``, one SQLite file every replica reads and writes): the
rows judged before are answered from it (``cached: true``). Ray Data restarts a replica that dies and runs
its chunk again.

Example:
    >>> import ray                                                                      # doctest: +SKIP
    >>> rollouts = ray.data.read_parquet("rollouts/")                                   # doctest: +SKIP
    >>> scored = score_dataset(rollouts, "prometheus-eval/prometheus-7b-v2.0", num_replicas=4,
    ...                        num_gpus_per_replica=1, cache="/shared/judge.sqlite")     # doctest: +SKIP
    >>> scored.write_parquet("scored/")                                                 # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from .ray_cluster import check_positive, connect, local_cpus, portable_judge, replica_resources, require_ray
from .rollout_file import (RESULT_FIELDS, InOrder, InputLine, RowSpec, ScoreTally, grouped, input_name,
                           judge_records, line_group_key, parse_line, plan_chunks, read_lines)

logger = logging.getLogger(__name__)

def check_judge(judge: Any, options: Mapping[str, Any]) -> Any:
    """Resolve the judge's configuration here (no weights load), so a bad option fails before any replica starts."""
    from reward_judge import GenerativeRewardModel

    return GenerativeRewardModel.from_pretrained(judge, lazy=True, **options)


class JudgeReplica:
    """One judge in one Ray actor, built from ``(judge, options)`` as `GenerativeRewardModel.from_pretrained` is.

    ``rows=False``: a batch holds chunks of input lines (``positions``, ``lines``, ``raws``: `score_file`),
    answered with their output lines (``positions``, ``lines``, ``texts``, ``kinds``, ``renamed``). ``rows=True``: a batch holds rollouts, answered
    with the same columns plus the result columns (`score_dataset`).
    """

    def __init__(self, judge: Any, options: Mapping[str, Any], *, raw: bool = False, strict: bool = False,
                 rows: bool = False):
        from reward_judge import GenerativeRewardModel

        self.rm = GenerativeRewardModel.from_pretrained(judge, **options)
        self.spec = RowSpec(pairwise=bool(self.rm.protocol.pairwise))
        self.raw, self.strict, self.rows = raw, strict, rows
        logger.info("replica %d: %r", os.getpid(), self.rm)

    def __call__(self, batch: Any) -> Any:
        return self._rows(batch) if self.rows else self._chunks(batch)

    def _chunks(self, batch: Any) -> Any:
        import pyarrow as pa

        numbers, texts, kinds, renamed = [], [], [], []
        for lines, raws in zip(batch.column("lines").to_pylist(), batch.column("raws").to_pylist(), strict=True):
            judged = judge_records(self.rm, [parse_line(n, raw, self.spec) for n, raw in zip(lines, raws, strict=True)],
                                   self.raw, self.strict)
            numbers.append(lines)
            texts.append([j.text for j in judged])
            kinds.append([j.kind for j in judged])
            renamed.append([json.dumps(j.renamed) for j in judged])
        strings = pa.list_(pa.string())
        return pa.table({"positions": batch.column("positions"), "lines": pa.array(numbers, pa.list_(pa.int64())),
                         "texts": pa.array(texts, strings), "kinds": pa.array(kinds, strings),
                         "renamed": pa.array(renamed, strings)})

    def _rows(self, batch: Any) -> Any:
        lines = []
        for row in batch.to_pylist():
            try:
                self.spec.check(row)
                lines.append(InputLine(None, row))
            except (TypeError, ValueError) as exc:
                lines.append(InputLine(None, row, str(exc)))
        judged = judge_records(self.rm, lines, self.raw, self.strict)
        return _with_results(batch, [j.record for j in judged], pairwise=self.spec.pairwise, raw=self.raw)


def result_schema(pairwise: bool, raw: bool) -> Any:
    """The Arrow types of the result columns `score_dataset` adds."""
    import pyarrow as pa

    fields = [("score", pa.float64()), ("reward", pa.float64()), ("feedback", pa.string()), ("ok", pa.bool_()),
              ("fallback", pa.bool_()), ("error", pa.string()), ("attempts", pa.int64()), ("cached", pa.bool_()),
              ("truncated", pa.int64()), ("distribution", pa.map_(pa.string(), pa.float64()))]
    if pairwise:
        fields.append(("winner", pa.string()))
    if raw:
        fields.append(("judge_output", pa.string()))
    return pa.schema(fields)


def _with_results(batch: Any, records: list[dict[str, Any]], *, pairwise: bool, raw: bool) -> Any:
    import pyarrow as pa

    schema = result_schema(pairwise, raw)
    table = _keep_input_columns(batch)
    for field in schema:
        values = [record.get(field.name) for record in records]
        if field.name == "score":
            values = [None if v is None else float(v) for v in values]
        table = table.append_column(field, pa.array(values, field.type))
    return table


def _keep_input_columns(batch: Any) -> Any:
    """``batch`` with its columns named like result columns renamed (`rollout_file.input_name`), never dropped."""
    from .rollout_file import RESERVED_FIELDS

    names = batch.column_names
    renames = {name: input_name(name, names) for name in names if name in RESERVED_FIELDS}
    if not renames:
        return batch
    global _RENAME_WARNED
    if not _RENAME_WARNED:
        _RENAME_WARNED = True
        logger.warning("input columns named like result columns were kept under another name, not overwritten: %s",
                       ", ".join(f"{old} -> {new}" for old, new in renames.items()))
    return batch.rename_columns([renames.get(name, name) for name in names])


_RENAME_WARNED = False


def _replica_env(quiet: bool) -> Optional[dict[str, Any]]:
    """Environment of the replicas: no weight-loading bars from every replica when the command is quiet."""
    return {"env_vars": {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}} if quiet else None


def _pool(num_replicas: int, num_cpus: float, num_gpus: float) -> dict[str, Any]:
    import ray.data

    check_positive("num_replicas", num_replicas, integer=True)
    return dict(compute=ray.data.ActorPoolStrategy(size=num_replicas), **replica_resources(num_cpus, num_gpus))


def score_dataset(dataset: Any, judge: Any = "default", *, num_replicas: int = 1, num_cpus_per_replica: float = 1.0,
                  num_gpus_per_replica: float = 0.0, batch_size: int = 64, raw: bool = False,
                  **options: Any) -> Any:
    """``dataset`` with the judge's result columns added, judged by ``num_replicas`` replicas in batches of
    ``batch_size`` rows, in the input's row order.

    ``options`` are `GenerativeRewardModel.from_pretrained` options (protocol, mode, backend and its options,
    cache...), checked here before any replica starts. A row that cannot be judged keeps its place with
    ``ok`` false and the error. An input column named like a result column is kept as ``input_<name>``. Runs
    on the Ray cluster this process is connected to (``ray.init``).

    Each batch is judged on its own: with a group protocol (listwise) rows of one prompt are one group only
    within a batch of ``batch_size`` consecutive rows (see the module docstring; `score_file` keeps groups whole).
    """
    require_ray("score_dataset")
    check_positive("batch_size", batch_size, integer=True)
    judge, options = portable_judge(judge, options)
    rm = check_judge(judge, options)
    if grouped(rm):
        logger.warning("score_dataset with the group protocol %r: each batch of %d consecutive rows is judged on its "
                       "own, so a prompt's rows in two batches are judged as two groups (score_file keeps groups "
                       "whole)",
                       rm.protocol.name, batch_size)
    scored = dataset.map_batches(
        JudgeReplica, fn_constructor_kwargs=dict(judge=judge, options=options, raw=raw, rows=True),
        batch_size=batch_size, batch_format="pyarrow", **_pool(num_replicas, num_cpus_per_replica, num_gpus_per_replica))
    scored.context.execution_options.preserve_order = True
    logger.info("scoring with %d replica(s) of %r", num_replicas, rm)
    return scored


def jsonl_chunks(path: str, chunk_size: int, by_group: bool = False) -> Any:
    """A Ray Data datasource of a JSON-lines file in chunks: one row per chunk of non-blank lines (`plan_chunks`:
    ``chunk_size`` consecutive lines, or with ``by_group`` whole groups of a group protocol), holding their
    positions among the lines (``positions``), line numbers (``lines``) and bytes (``raws``). It is read on the
    driver's node, where the file is."""
    return _datasource_class()(path, chunk_size, by_group)


@functools.lru_cache(maxsize=None)
def _datasource_class() -> type:
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class JsonlChunks(Datasource):
        def __init__(self, path: str, chunk_size: int, by_group: bool):
            self.path, self.chunk_size, self.by_group = path, chunk_size, by_group

        def get_name(self) -> str:
            return "JsonlChunks"

        def estimate_inmemory_data_size(self) -> Optional[int]:
            return os.path.getsize(self.path)

        def supports_distributed_reads(self) -> bool:
            return False  # the file is on the driver's machine

        def get_read_tasks(self, parallelism: int, per_task_row_limit: Optional[int] = None,
                           data_context: Any = None) -> list[Any]:
            path, size, by_group = self.path, self.chunk_size, self.by_group
            meta = BlockMetadata(num_rows=None, size_bytes=os.path.getsize(path), exec_stats=None, input_files=(path,))
            return [ReadTask(lambda: _read_chunks(path, size, by_group), meta)]

    return JsonlChunks


def _line_key(item: tuple[int, bytes]) -> Optional[str]:
    return line_group_key(parse_line(item[0], item[1], RowSpec()))  # a group protocol is not pairwise


def _read_chunks(path: str, chunk_size: int, by_group: bool = False) -> Iterator[Any]:
    import pyarrow as pa

    for chunk in plan_chunks(read_lines(Path(path)), chunk_size, _line_key if by_group else None):
        yield pa.table({"positions": pa.array([[p for p, _ in chunk]], pa.list_(pa.int64())),
                        "lines": pa.array([[number for _, (number, _) in chunk]], pa.list_(pa.int64())),
                        "raws": pa.array([[raw for _, (_, raw) in chunk]], pa.list_(pa.binary()))})


def write_in_order(batches: Iterable[Any], out: Any, tally: ScoreTally, progress: Callable[[int], Any],
                   on_written: Optional[Callable[[int], None]] = None) -> None:
    """Write the judged chunks of `JudgeReplica` (``batches``, in any order) to ``out`` in input order, counting
    them in ``tally``; ``progress(rows)`` and ``on_written(rows)`` get the rows each chunk let be written."""
    order: InOrder[tuple[int, str, str, str]] = InOrder()  # chunks of whole groups come out of input order
    for batch in batches:
        for chunk in zip(batch.column("positions").to_pylist(), batch.column("lines").to_pylist(),
                         batch.column("texts").to_pylist(), batch.column("kinds").to_pylist(),
                         batch.column("renamed").to_pylist(), strict=True):
            written = 0
            for position, *row in zip(*chunk, strict=True):
                for line, text, kind, renamed in order.add(position, tuple(row)):  # type: ignore[arg-type]
                    out.write(text + "\n")
                    tally.add(kind, line, json.loads(renamed))
                    written += 1
            progress(written)
            if on_written is not None and written:
                on_written(written)
    if order.waiting:
        raise RuntimeError(f"{order.waiting} judged rows never had their turn: a chunk is missing")


def score_file(source: Any, target: Any, judge: Any = "default", options: Optional[Mapping[str, Any]] = None, *,
               num_replicas: int = 1, num_cpus_per_replica: Optional[float] = None, num_gpus_per_replica: float = 0.0,
               ray_address: Optional[str] = None, chunk_size: int = 64, raw: bool = False, strict: bool = False,
               progress: bool = True, total: Optional[int] = None, quiet: bool = False,
               on_written: Optional[Callable[[int], None]] = None) -> ScoreTally:
    """``reward-judge score --ray``: judge the JSONL file ``source`` on an actor pool and write ``target`` in input
    order (through a temporary file: a failed job leaves none). Returns what was written.

    Joins the cluster at ``ray_address``, or starts a local one for the job (stopped at the end). Replicas
    reserve ``num_cpus_per_replica`` CPUs each (default: a local cluster's CPUs shared among them; 1 on a
    joined cluster) and ``num_gpus_per_replica`` GPUs. ``on_written(rows)`` is called after every chunk with the
    rows it let the driver write (in input order: with a group protocol a chunk may wait for an earlier one).
    """
    from tqdm import tqdm

    import ray.data

    from reward_judge.jsonl import atomic_output

    require_ray("reward-judge score --ray")
    options = dict(options or {})
    check_positive("num_replicas", num_replicas, integer=True)
    check_positive("chunk_size", chunk_size, integer=True)
    source_path = Path(source).resolve()
    if not source_path.is_file():
        raise ValueError(f"--input {str(source)!r} does not exist")
    judge, options = portable_judge(judge, options)
    by_group = grouped(check_judge(judge, options))
    if num_cpus_per_replica is None:
        num_cpus_per_replica = 1.0 if ray_address else max(1.0, float((os.cpu_count() or 1) // num_replicas))
    replica_resources(num_cpus_per_replica, num_gpus_per_replica)  # checked before a cluster starts
    connection = connect(ray_address, num_cpus=None if ray_address else local_cpus(num_replicas, num_cpus_per_replica),
                         quiet=quiet)
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars, context.target_max_block_size)
    try:
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False  # the driver's own bar counts rows written
        # Ray Data merges small blocks up to this size; one chunk per block lets every replica take chunks
        context.target_max_block_size = 1
        logging.getLogger("ray.data").setLevel(logging.WARNING if quiet or not logger.isEnabledFor(logging.INFO)
                                               else logging.INFO)
        chunks = ray.data.read_datasource(jsonl_chunks(str(source_path), chunk_size, by_group), override_num_blocks=1)
        judged = chunks.map_batches(
            JudgeReplica, fn_constructor_kwargs=dict(judge=judge, options=options, raw=raw, strict=strict),
            batch_size=1, batch_format="pyarrow", runtime_env=_replica_env(quiet),
            **_pool(num_replicas, num_cpus_per_replica, num_gpus_per_replica))
        tally = ScoreTally()
        with atomic_output(Path(target)) as out, \
                tqdm(total=total, unit="rollout", desc=f"judging ({num_replicas} replicas)", disable=not progress) as bar:
            write_in_order(judged.iter_batches(batch_size=None, batch_format="pyarrow"), out, tally, bar.update,
                           on_written)
        return tally
    except Exception as exc:
        cause = _user_error(exc)
        if cause is not None:
            raise cause from None
        raise
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars, context.target_max_block_size = saved
        if connection.started:
            connection.close()


def _user_error(exc: BaseException) -> Optional[BaseException]:
    """The ``ValueError`` a replica raised (``--strict``, a judge refusing its options), out of Ray's wrapping."""
    from ray.exceptions import RayError, RayTaskError

    for _ in range(10):
        if isinstance(exc, RayTaskError) and exc.cause is not None:
            exc = exc.cause
        elif isinstance(exc, ValueError) and not isinstance(exc, RayError):
            return ValueError(str(exc))
        elif exc.__cause__ is not None:
            exc = exc.__cause__
        else:
            return None
    return None


__all__ = ["JudgeReplica", "jsonl_chunks", "RESULT_FIELDS", "result_schema", "score_dataset", "score_file",
           "write_in_order"]
