"""Export files whose job is gone (their account was deleted, the rows went with it) are swept
by the retention pass; files of live jobs stay."""

from __future__ import annotations

from tests.conftest import new_account
from tests.support.retention import add_export, ctx_of, purge, run


def test_export_files_of_deleted_accounts_are_swept(client, account):
    kept_account, _ = account
    gone_account, _ = new_account(client, "leaving")
    add_export(client, kept_account, "exp_kept")
    add_export(client, gone_account, "exp_gone")
    folder = ctx_of(client).settings.data_dir / "exports"
    (folder / "exp_gone_too.csv.part").write_text("half written")

    def delete_account(conn):
        conn.execute("DELETE FROM accounts WHERE id = ?", (gone_account,))

    run(client, ctx_of(client).db.write, delete_account)
    counts = purge(client)
    assert counts["export_files"] == 2
    assert sorted(p.name for p in folder.iterdir()) == ["exp_kept.jsonl"]
    assert purge(client)["export_files"] == 0
