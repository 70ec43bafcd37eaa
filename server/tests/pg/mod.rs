//! A Postgres server for the tests that need one.
//!
//! `CHATIO_TEST_POSTGRES` names one (a URL such as `postgres://postgres@127.0.0.1:5432/postgres`,
//! which `.ci/run` starts and exports). Without it the helper starts a throwaway cluster of its
//! own with `initdb` and `pg_ctl` (found on `PATH` or in `/usr/lib/postgresql/*/bin`), as the
//! `postgres` user when the tests run as root (Postgres refuses to run as root), and stops it
//! when the test ends. With neither the variable nor the binaries the test fails, saying what
//! to do: tests that need Postgres never skip.
//!
//! Every test gets a database of its own, made fresh, so that runs never see each other's
//! tables.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable naming the test server.
pub const ENV: &str = "CHATIO_TEST_POSTGRES";

/// A database for one test.
pub struct Postgres {
    /// Its URL.
    pub url: String,
    server: String,
    name: String,
    _cluster: Option<Cluster>,
}

impl Postgres {
    /// Drops the database (at the end of a test that passed; a failed one keeps it for a
    /// look, and a cluster started here goes with everything in it).
    pub async fn remove(self) {
        if self._cluster.is_some() {
            return;
        }
        let Ok((client, connection)) =
            tokio_postgres::connect(&self.server, tokio_postgres::NoTls).await
        else {
            return;
        };
        let driver = tokio::spawn(connection);
        let _ = client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
        drop(client);
        let _ = driver.await;
    }
}

/// A cluster this helper started (stopped and deleted on drop).
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = run(
            self.as_postgres,
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(as_postgres: bool, program: &Path, args: &[&str]) -> Result<String, String> {
    let mut command = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let out = command
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {args:?}: {}\n{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The folder holding `initdb` and `pg_ctl`: on `PATH`, or the newest of
/// `/usr/lib/postgresql/*/bin`.
fn binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn start_cluster() -> (String, Cluster) {
    let bin = binaries().unwrap_or_else(|| {
        panic!(
            "this test needs Postgres: run `.ci/run` (which installs and starts one), or set \
             {ENV}=postgres://USER@HOST:PORT/DB, or install PostgreSQL (initdb and pg_ctl on \
             PATH or in /usr/lib/postgresql/*/bin) so that the test starts its own"
        )
    });
    let as_postgres = is_root();
    let unique = format!(
        "chatio-pg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let dir = std::env::temp_dir().join(unique);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    if as_postgres {
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("chown");
        assert!(status.success(), "chown postgres {}", dir.display());
    }
    let cluster = Cluster {
        dir: dir.clone(),
        bin: bin.clone(),
        as_postgres,
    };
    let data = dir.join("data");
    run(
        as_postgres,
        &bin.join("initdb"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
    )
    .unwrap_or_else(|e| panic!("initdb failed (to use a running server instead, set {ENV}): {e}"));
    // A free port: bound, then let go for the server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
        dir.display()
    );
    run(
        as_postgres,
        &bin.join("pg_ctl"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-o",
            &options,
            "-l",
            &dir.join("log").to_string_lossy(),
            "-w",
            "start",
        ],
    )
    .unwrap_or_else(|e| panic!("pg_ctl start failed: {e}"));
    (
        format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        cluster,
    )
}

/// The URL with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// A fresh database for one test (on `CHATIO_TEST_POSTGRES`, or on a cluster started here).
pub async fn database(name: &str) -> Postgres {
    let (server, cluster) = match std::env::var(ENV) {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let (url, cluster) = start_cluster();
            (url, Some(cluster))
        }
    };
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {server} ({ENV}): {e}"));
    let driver = tokio::spawn(connection);
    let db = format!(
        "chatio_{name}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros())
    );
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {db}: {e}"));
    drop(client);
    let _ = driver.await;
    Postgres {
        url: with_database(&server, &db),
        server,
        name: db,
        _cluster: cluster,
    }
}

/// A client of the test's database.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}
