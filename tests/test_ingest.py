"""Ingestion into a real SQLite + FAISS index: idempotent, incremental, atomic, in step."""

from __future__ import annotations

import json
import shutil

import numpy as np

from rag.index import INDEX_FILE, MANIFEST_FILE
from rag.ingest import Corpus

from .conftest import SAMPLES


def faiss_ids(corpus: Corpus) -> set[int]:
    index = corpus.index.index
    return {int(index.id_map.at(i)) for i in range(index.ntotal)}


def sqlite_ids(corpus: Corpus) -> set[int]:
    return {r[0] for r in corpus.store.db.execute("SELECT id FROM chunks")}


def fts_ids(corpus: Corpus) -> set[int]:
    return {r[0] for r in corpus.store.db.execute("SELECT rowid FROM chunks_fts")}


def test_ingest_reingest_change_and_remove(fresh_settings, corpus_copy):
    corpus = Corpus.open(fresh_settings)
    first = corpus.ingest([corpus_copy], progress=False)
    assert [f.status for f in first.files] == ["added"] * 5
    assert {f.path.split("/")[-1]: f.items for f in first.files}["lscsb-minutes-2019-12.txt"] == 13
    assert first.embedded == corpus.index.size == len(sqlite_ids(corpus))
    assert faiss_ids(corpus) == sqlite_ids(corpus) == fts_ids(corpus)

    # Unchanged files: nothing parsed, nothing embedded.
    again = corpus.ingest([corpus_copy], progress=False)
    assert [f.status for f in again.files] == ["unchanged"] * 5
    assert again.embedded == 0

    # A changed file replaces its items (no duplicates); only its new text is embedded.
    items_before = len(corpus.store.items())
    target = corpus_copy / "lscsb-minutes-2019-12.txt"
    target.write_text(target.read_text().replace("£880,000", "£990,000"), encoding="utf-8")
    changed = corpus.ingest([corpus_copy], progress=False)
    assert sorted(f.status for f in changed.files) == ["unchanged"] * 4 + ["updated"]
    assert 1 <= changed.embedded <= 2
    assert len(corpus.store.items()) == items_before
    bodies = " ".join(i.body for _, i in corpus.store.items())
    assert "£990,000" in bodies and "£880,000" not in bodies
    assert faiss_ids(corpus) == sqlite_ids(corpus) == fts_ids(corpus)

    # A file removed from the folder leaves the index.
    (corpus_copy / "lscsb-minutes-2025-03.txt").unlink()
    removed = corpus.ingest([corpus_copy], progress=False)
    assert [f.status for f in removed.files if f.status != "unchanged"] == ["removed"]
    assert "lscsb-minutes-2025-03.txt" not in {i.doc for _, i in corpus.store.items()}
    assert faiss_ids(corpus) == sqlite_ids(corpus) == fts_ids(corpus)


def test_reload_from_disk_matches_and_stale_index_is_rebuilt(fresh_settings, corpus_copy):
    corpus = Corpus.open(fresh_settings)
    corpus.ingest([corpus_copy], progress=False)
    ids = faiss_ids(corpus)
    manifest = json.loads((fresh_settings.index_dir / MANIFEST_FILE).read_text())
    assert manifest["count"] == len(ids) and manifest["embedding_model"] == "all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384 and manifest["index_type"] == "flat"

    reopened = Corpus.open(fresh_settings)
    assert faiss_ids(reopened) == ids
    vector = np.asarray(reopened.index.index.reconstruct(next(iter(ids))))
    assert abs(np.linalg.norm(vector) - 1) < 1e-3

    # A manifest from another embedding model means a rebuild, not wrong results.
    manifest["embedding_model"] = "some-other-model"
    (fresh_settings.index_dir / MANIFEST_FILE).write_text(json.dumps(manifest))
    rebuilt = Corpus.open(fresh_settings)
    assert faiss_ids(rebuilt) == ids
    assert json.loads((fresh_settings.index_dir / MANIFEST_FILE).read_text())["embedding_model"] == "all-MiniLM-L6-v2"

    # A damaged index file is rebuilt from the vectors kept in SQLite (no re-embedding).
    (fresh_settings.index_dir / INDEX_FILE).write_bytes(b"garbage")
    repaired = Corpus.open(fresh_settings)
    assert faiss_ids(repaired) == ids


def test_bad_files_are_reported_while_good_ones_are_ingested(fresh_settings, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(SAMPLES[0], folder / SAMPLES[0].name)
    (folder / "empty.txt").write_text("")
    (folder / "binary.md").write_bytes(bytes(range(256)) * 10)
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (folder / "notes.xlsx").write_bytes(b"PK")        # not a supported type: not picked up from a folder
    corpus = Corpus.open(fresh_settings)
    report = corpus.ingest([folder, tmp_path / "vanished.txt"], progress=False)
    status = {f.path.split("/")[-1]: (f.status, f.error) for f in report.files}
    assert status[SAMPLES[0].name][0] == "added"
    assert status["empty.txt"] == ("error", "file is empty")
    assert status["binary.md"][0] == "error" and "binary" in status["binary.md"][1]
    assert status["scan.pdf"][0] == "error"
    assert status["vanished.txt"] == ("error", "no such file or folder")
    assert "notes.xlsx" not in status
    assert {i.doc for _, i in corpus.store.items()} == {SAMPLES[0].name}
    assert faiss_ids(corpus) == sqlite_ids(corpus)


def test_a_failure_mid_ingest_leaves_the_old_version(fresh_settings, corpus_copy, monkeypatch):
    corpus = Corpus.open(fresh_settings)
    corpus.ingest([corpus_copy], progress=False)
    before = sqlite_ids(corpus)
    target = corpus_copy / "lscsb-minutes-2021-09-24.txt"
    target.write_text(target.read_text() + "\n\n32. Late item\nA new late item.\n", encoding="utf-8")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(corpus.store, "save_vectors", boom)
    try:
        corpus.ingest([target], progress=False)
    except RuntimeError:
        pass
    monkeypatch.undo()
    reopened = Corpus.open(fresh_settings)
    assert sqlite_ids(reopened) == before == faiss_ids(reopened)
    assert "Late item" not in {i.title for _, i in reopened.store.items()}


def test_remove_document(fresh_settings, corpus_copy):
    corpus = Corpus.open(fresh_settings)
    corpus.ingest([corpus_copy], progress=False)
    assert corpus.remove("lscsb-minutes-2019-12.txt") == 1
    assert corpus.remove("no-such-file.txt") == 0
    assert "lscsb-minutes-2019-12.txt" not in {i.doc for _, i in corpus.store.items()}
    assert faiss_ids(Corpus.open(fresh_settings)) == sqlite_ids(corpus)


def test_a_new_parser_reads_unchanged_files_again_without_embedding_them_again(fresh_settings, corpus_copy,
                                                                               monkeypatch):
    # An index built by an older parser would otherwise keep that parser's items for good.
    from rag import parse

    corpus = Corpus.open(fresh_settings)
    corpus.ingest([corpus_copy], progress=False)
    items = len(corpus.store.items())
    monkeypatch.setattr(parse, "PARSE_VERSION", parse.PARSE_VERSION + "-next")
    again = corpus.ingest([corpus_copy], progress=False)
    assert [f.status for f in again.files] == ["updated"] * 5
    assert again.embedded == 0          # same text: the vectors come from the cache
    assert len(corpus.store.items()) == items
    assert faiss_ids(corpus) == sqlite_ids(corpus) == fts_ids(corpus)


def test_running_headers_and_footers_of_a_pdf_join_no_item():
    # Chicago SSA #21's two pages both carry the Chamber's address and phone line at an edge;
    # it used to run into the sentence after the page break.
    from pathlib import Path

    from rag.parse import parse_file

    items = parse_file(Path(__file__).parent / "layouts" / "chicago-ssa21-commission-2018-01-29.pdf")
    bodies = " ".join(i.body for i in items)
    assert "773.769.4855" not in bodies
    assert "Lincoln Square Special Service Area" in bodies     # its title, at the top, stays
