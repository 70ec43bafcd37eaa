//! Storage integrity (issue 20, item 8): the seed drawn at the first start and kept, a damaged
//! database refused at start (and recovered from the older snapshot when asked to), and the
//! online backup.

use std::path::{Path, PathBuf};

use chatio::{Customer, EngineConfig};
use chatio_server::store::{self, FILE_NAME, Store};
use chatio_server::{Durability, customer_id_for};

fn dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("storage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn customer(n: usize) -> Customer {
    Customer::new(customer_id_for(&format!("storage-{n}")))
}

/// A data directory with two snapshots (after 200 and 400 customers) and 100 customers in the
/// journal after the newer one.
fn two_snapshots(data: &Path) {
    let durability = Durability::new(data);
    let (mut store, recovered) =
        Store::open(&durability, &EngineConfig::with_seed(3), true, |_| Ok(())).unwrap();
    let mut engine = recovered.engine;
    for n in 0..500 {
        engine.add_customer(customer(n)).unwrap();
        if n == 199 || n == 399 {
            store.append(&engine.take_journal()).unwrap();
            store.snapshot(&engine).unwrap();
        }
    }
    store.append(&engine.take_journal()).unwrap();
}

fn open(data: &Path, skip: bool) -> Result<(Store, store::Recovered), String> {
    let durability = Durability {
        skip_integrity_check: skip,
        ..Durability::new(data)
    };
    Store::open(&durability, &EngineConfig::with_seed(3), true, |_| Ok(()))
}

#[test]
fn a_drawn_seed_is_stored_and_kept_across_restarts() {
    let data = dir("seed");
    let durability = Durability::new(&data);
    let first = EngineConfig::with_seed(0x5eed_0001);
    let (store, recovered) = Store::open(&durability, &first, false, |_| Ok(())).unwrap();
    assert!(recovered.from.is_none());
    drop(store);
    // The next start draws another seed, and keeps the stored one.
    let second = EngineConfig::with_seed(0x5eed_0002);
    let (store, recovered) = Store::open(&durability, &second, false, |_| Ok(())).unwrap();
    assert_eq!(recovered.engine.config().seed, 0x5eed_0001);
    drop(store);
    // A fixed --seed that differs is refused, without showing the drawn one.
    let err = Store::open(&durability, &second, true, |_| Ok(()))
        .err()
        .expect("refused");
    assert!(err.contains("a seed drawn at its first start"), "{err}");
    assert!(!err.contains(&0x5eed_0001u64.to_string()), "{err}");
    // Two servers in memory draw different seeds.
    let a = chatio_server::Server::open(chatio_server::Config::default(), None).unwrap();
    let b = chatio_server::Server::open(chatio_server::Config::default(), None).unwrap();
    assert!(
        a.report()
            .iter()
            .any(|l| l.contains("drawn from the operating system"))
    );
    drop((a, b));
    let _ = std::fs::remove_dir_all(&data);
}

/// Makes the newest snapshot's blob unreadable: the overflow page holding a piece of it gets
/// a next-page pointer past the end of the file.
fn damage_newest_snapshot(data: &Path) {
    let path = data.join(FILE_NAME);
    let (newest, older): (Vec<u8>, Vec<u8>) = {
        let db = rusqlite::Connection::open(&path).unwrap();
        let get = |sql: &str| db.query_row(sql, [], |r| r.get(0)).unwrap();
        (
            get("SELECT data FROM snapshot ORDER BY seq DESC LIMIT 1"),
            get("SELECT data FROM snapshot ORDER BY seq ASC LIMIT 1"),
        )
    };
    let mut file = std::fs::read(&path).unwrap();
    let page_size = u16::from_be_bytes([file[16], file[17]]) as usize;
    let page_size = if page_size == 1 { 65_536 } else { page_size };
    // A piece of the newest snapshot found once in the file and not in the older one, far
    // from the blob's start (which sits in the table's own page, not an overflow page).
    let at = (newest.len() / 2..newest.len() - 64)
        .step_by(61)
        .map(|i| &newest[i..i + 64])
        .filter(|piece| !older.windows(64).any(|w| w == *piece))
        .find_map(|piece| {
            let mut found = file.windows(64).enumerate().filter(|(_, w)| *w == piece);
            match (found.next(), found.next()) {
                (Some((at, _)), None) => Some(at),
                _ => None,
            }
        })
        .expect("a piece of the newest snapshot in the database file");
    let page = at / page_size;
    file[page * page_size..page * page_size + 4].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    std::fs::write(&path, file).unwrap();
}

#[test]
fn a_damaged_database_is_refused_at_start_and_recovers_from_the_older_snapshot_when_asked() {
    let data = dir("damage");
    two_snapshots(&data);
    damage_newest_snapshot(&data);
    let err = open(&data, false)
        .err()
        .expect("a damaged database is refused");
    assert!(
        err.contains("damaged") && err.contains("quick_check"),
        "{err}"
    );
    assert!(
        err.contains("--skip-integrity-check") && err.contains("Backups"),
        "{err}"
    );
    let (_store, recovered) = open(&data, true).expect("recovers what still reads");
    let recovery = recovered.from.expect("a recovery");
    assert_eq!(recovery.snapshot_seq, 200, "the older snapshot");
    assert!(
        recovery
            .warnings
            .iter()
            .any(|w| w.contains("cannot be read") || w.contains("snapshot at record 400")),
        "{:?}",
        recovery.warnings
    );
    for n in 0..500 {
        assert!(
            recovered.engine.customer(&customer(n).id).is_some(),
            "customer {n}"
        );
    }
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_backup_is_a_checked_standalone_copy_that_a_server_starts_from() {
    let data = dir("backup-src");
    let target = dir("backup-dst");
    two_snapshots(&data);
    // Taken while a store holds the directory, as a running server does.
    let (mut live, recovered) = open(&data, false).unwrap();
    let mut engine = recovered.engine;
    engine.add_customer(customer(1_000)).unwrap();
    live.append(&engine.take_journal()).unwrap();
    let copy = store::backup(&data, &target).expect("a backup");
    assert_eq!(copy.path, target.join(FILE_NAME));
    assert_eq!(copy.snapshots, 2);
    assert!(copy.bytes > 0);
    assert!(
        !target.join(format!("{FILE_NAME}-wal")).exists(),
        "no WAL beside the copy"
    );
    // Not over an existing one.
    let again = store::backup(&data, &target).expect_err("refused");
    assert!(again.contains("exists already"), "{again}");
    // Another process's second server is refused while the first holds the directory.
    let busy = open(&data, false).err().expect("one server per directory");
    assert!(busy.contains("in use"), "{busy}");
    drop(live);
    let (_store, restored) = open(&target, false).expect("the copy starts");
    for n in (0..500).chain([1_000]) {
        assert!(
            restored.engine.customer(&customer(n).id).is_some(),
            "customer {n}"
        );
    }
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&target);
}

#[test]
fn the_backup_command_copies_a_data_directory() {
    let data = dir("backup-cmd-src");
    let target = dir("backup-cmd-dst");
    two_snapshots(&data);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chatio-server"))
        .args(["backup", "--data"])
        .arg(&data)
        .arg(&target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("backed up into") && said.contains("2 snapshot(s)"),
        "{said}"
    );
    assert!(open(&target, false).is_ok());
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_chatio-server"))
        .args(["backup", "--data", "/nonexistent/chatio"])
        .arg(target.join("x"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&target);
}
