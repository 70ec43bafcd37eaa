//! Files: the agent's `upload_image` and the customer's `send_file` as multipart uploads on the
//! Web API, the bytes kept by the server, and `GET /files/{kind}/{name}` serving them back.
//!
//! The engine keeps only a file's metadata (name, URL, content type, size); the bytes are the
//! host's, and this module is that host. Where they live:
//!
//! * with `--data DIR`, in `DIR/files/{img,att}/`, each written to a temporary name, synced and
//!   renamed before the engine hears of it, so an acknowledged file event never points at
//!   bytes a crash lost;
//! * in memory otherwise, up to [`MEMORY_CAP`] bytes in all, past which uploads are refused
//!   (`limit_reached`) instead of growing the process without end.
//!
//! A stored file's name is 128 random bits from the operating system, so its URL cannot be
//! guessed, and `GET` needs no token (clients put these URLs in `<img>` tags). Files come from
//! anyone who may chat, so they are served as inert data: `X-Content-Type-Options: nosniff`, a
//! `Content-Security-Policy: sandbox`, and anything but an image as an attachment, so an
//! uploaded HTML page cannot run script on the server's origin.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chatio::ErrorKind;
use chatio::model::MAX_FILE_SIZE;
use chatio::wire::Api;
use serde_json::{Value, json};

use crate::Shared;
use crate::listen::Ticket;

/// Bytes the in-memory store keeps in all (256 MiB).
pub const MEMORY_CAP: usize = 256 << 20;

/// What a multipart body may carry beyond its file: the other fields and the part headers.
const MULTIPART_OVERHEAD: usize = 64 << 10;

/// Where uploads go: the folder of `upload_image` (`img`) or of `send_file` (`att`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Image,
    Attachment,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Image => "img",
            Kind::Attachment => "att",
        }
    }

    fn parse(dir: &str) -> Option<Kind> {
        match dir {
            "img" => Some(Kind::Image),
            "att" => Some(Kind::Attachment),
            _ => None,
        }
    }
}

/// Files kept in memory: path to (content type, bytes), and the bytes held in all.
type Held = (HashMap<String, (String, Bytes)>, usize);

/// The server's files.
pub(crate) enum FileStore {
    /// Kept in memory.
    Memory(Mutex<Held>),
    /// Kept under a directory.
    Dir(PathBuf),
}

/// Why a file was not stored.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// The in-memory store is full.
    Full,
    /// The disk refused.
    Io(std::io::Error),
}

impl FileStore {
    /// A store in memory.
    pub(crate) fn in_memory() -> FileStore {
        FileStore::Memory(Mutex::new((HashMap::new(), 0)))
    }

    /// A store under `dir` (created on the first upload).
    pub(crate) fn in_dir(dir: PathBuf) -> FileStore {
        FileStore::Dir(dir)
    }

    /// Stores `bytes` under a fresh random name ending in `extension`, and returns its path
    /// (`img/…` or `att/…`).
    fn put(
        &self,
        kind: Kind,
        extension: &str,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<String, StoreError> {
        let draw = || getrandom::u64().map_err(|e| StoreError::Io(std::io::Error::other(e)));
        let id = (u128::from(draw()?) << 64) | u128::from(draw()?);
        let name = if extension.is_empty() {
            format!("{id:032x}")
        } else {
            format!("{id:032x}.{extension}")
        };
        let path = format!("{}/{name}", kind.dir());
        match self {
            FileStore::Memory(held) => {
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                if held.1 + bytes.len() > MEMORY_CAP {
                    return Err(StoreError::Full);
                }
                held.1 += bytes.len();
                held.0
                    .insert(path.clone(), (content_type.to_string(), bytes));
            }
            FileStore::Dir(root) => {
                let dir = root.join(kind.dir());
                write_synced(&dir, &name, &bytes).map_err(StoreError::Io)?;
                write_synced(&dir, &format!("{name}.type"), content_type.as_bytes())
                    .map_err(StoreError::Io)?;
            }
        }
        Ok(path)
    }

    /// Forgets a file the engine refused to mention.
    fn remove(&self, path: &str) {
        match self {
            FileStore::Memory(held) => {
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((_, bytes)) = held.0.remove(path) {
                    held.1 -= bytes.len();
                }
            }
            FileStore::Dir(root) => {
                let _ = std::fs::remove_file(root.join(path));
                let _ = std::fs::remove_file(root.join(format!("{path}.type")));
            }
        }
    }

    /// The content type and bytes stored at `kind/name`.
    fn get(&self, kind: Kind, name: &str) -> Option<(String, Bytes)> {
        let path = format!("{}/{name}", kind.dir());
        match self {
            FileStore::Memory(held) => {
                let held = held.lock().unwrap_or_else(|e| e.into_inner());
                held.0.get(&path).cloned()
            }
            FileStore::Dir(root) => {
                let bytes = std::fs::read(root.join(&path)).ok()?;
                let content_type = std::fs::read_to_string(root.join(format!("{path}.type")))
                    .unwrap_or_else(|_| "application/octet-stream".to_string());
                Some((content_type, Bytes::from(bytes)))
            }
        }
    }
}

/// Writes `bytes` to `dir/name` so that it is on disk, under its name, when this returns: a
/// temporary file, synced, renamed, and the directory synced.
fn write_synced(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{name}.part"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// Whether a request's body is a multipart form (the uploads' content type).
pub(crate) fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The part of a form that holds the upload, and the other fields.
struct Form {
    fields: HashMap<String, String>,
    file: Option<Upload>,
}

/// An uploaded file as the form gave it.
struct Upload {
    name: String,
    content_type: String,
    bytes: Bytes,
}

/// What an upload's handling ends in: an HTTP status and a JSON body.
type Answer = (StatusCode, Value);

/// A refusal as the Web API gives it: the status its error type maps to, and the error body.
fn refusal(kind: &str, message: impl Into<String>) -> Answer {
    (
        crate::web::status_for(kind),
        json!({ "error": { "type": kind, "message": message.into() } }),
    )
}

/// A multipart Web API request: `upload_image` (agents) and `send_file` (customers).
///
/// The token is checked before the body is read, so nobody without one makes the server read
/// 10 MB. The file's bytes are stored first; `send_file` then goes to the engine as the JSON
/// request a host that stores files itself would send (the file's metadata with the URL
/// given here), and the bytes are removed again if the engine refuses it.
pub(crate) async fn upload(
    shared: &Shared,
    api: Api,
    action: &str,
    headers: &HeaderMap,
    body: Body,
    ticket: Option<&Ticket>,
) -> Answer {
    let kind = match (api, action) {
        (Api::Agent, "upload_image") => Kind::Image,
        (Api::Customer, "send_file") => Kind::Attachment,
        _ => {
            return refusal(
                ErrorKind::Validation.as_str(),
                format!(
                    "a multipart body is taken by the agent's upload_image and the customer's \
                     send_file only, not by {action:?}: send JSON"
                ),
            );
        }
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let peer = ticket.map(|t| t.peer.ip());
    if let Err(refused) = shared.authenticate(api, token, peer) {
        return refusal(refused.kind(), refused.message());
    }
    if let Some(ticket) = ticket {
        ticket.authenticated();
    }
    let limit = MAX_FILE_SIZE as usize + MULTIPART_OVERHEAD;
    let bytes = match crate::web::read_body(shared, ticket, body, limit).await {
        Ok(bytes) => bytes,
        // The protocol's answer to a file over the limit is a `validation` error.
        Err((_, "entity_too_large", message)) => {
            return refusal(
                ErrorKind::Validation.as_str(),
                format!("entity too large: {message}"),
            );
        }
        Err((_, kind, message)) => return refusal(kind, message),
    };
    let form = match parse_form(headers, bytes).await {
        Ok(form) => form,
        Err(message) => return refusal(ErrorKind::Validation.as_str(), message),
    };
    let field = match kind {
        Kind::Image => "payload.image",
        Kind::Attachment => "payload.file",
    };
    let Some(file) = form.file else {
        return refusal(
            ErrorKind::Validation.as_str(),
            format!("the form has no {field} part with a file"),
        );
    };
    if file.bytes.len() as u64 > MAX_FILE_SIZE {
        return refusal(
            ErrorKind::Validation.as_str(),
            format!(
                "entity too large: {} bytes is over the {MAX_FILE_SIZE}-byte limit of a file",
                file.bytes.len()
            ),
        );
    }
    let size = file.bytes.len();
    let path = match shared
        .files
        .put(kind, &extension(&file.name), &file.content_type, file.bytes)
    {
        Ok(path) => path,
        Err(StoreError::Full) => {
            return refusal(
                "limit_reached",
                format!("the server's in-memory file store is full ({MEMORY_CAP} bytes)"),
            );
        }
        Err(StoreError::Io(e)) => {
            tracing::error!(error = %e, "cannot store an upload");
            return refusal(ErrorKind::Internal.as_str(), "the file could not be stored");
        }
    };
    let url = format!("{}/files/{path}", base_url(shared, headers));
    shared.metrics.uploads.inc();
    if kind == Kind::Image {
        return (StatusCode::OK, json!({ "url": url, "path": path }));
    }
    let mut payload = json!({
        "chat_id": form.fields.get("payload.chat_id").cloned().unwrap_or_default(),
        "file": {
            "name": file.name,
            "url": url,
            "content_type": file.content_type,
            "size": size,
        },
    });
    if let Some(custom_id) = form.fields.get("payload.custom_id") {
        payload["custom_id"] = json!(custom_id);
    }
    let request = json!({ "payload": payload }).to_string();
    let (status, answer) =
        crate::web::call_json(shared, api, action, headers, request.as_bytes(), ticket).await;
    if status != StatusCode::OK {
        shared.files.remove(&path);
    }
    (status, answer)
}

/// The form's text fields and its file part (`payload.image` or `payload.file`).
async fn parse_form(headers: &HeaderMap, bytes: Bytes) -> Result<Form, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| format!("the multipart content type: {e}"))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form {
        fields: HashMap::new(),
        file: None,
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| format!("the multipart body: {e}"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "payload.image" || name == "payload.file" {
            let file_name = field.file_name().map(clean_name).unwrap_or_default();
            let declared = field.content_type().map(ToString::to_string);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| format!("the {name} part: {e}"))?;
            let name = if file_name.is_empty() {
                "file".to_string()
            } else {
                file_name
            };
            let content_type = content_type_of(declared.as_deref(), &name);
            form.file = Some(Upload {
                name,
                content_type,
                bytes,
            });
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| format!("the {name} part: {e}"))?;
            form.fields.insert(name, text);
        }
    }
    Ok(form)
}

/// A file name as a client sent it, without any folder (browsers on some systems send the
/// whole path) and at most 255 bytes.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    let mut end = base.len().min(255);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// The extension a stored file keeps (so its URL says what it is): the name's, if it is short
/// and plain; none otherwise.
fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((_, ext))
            if !ext.is_empty()
                && ext.len() <= 10
                && ext.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            ext.to_ascii_lowercase()
        }
        _ => String::new(),
    }
}

/// The part's declared content type if it reads as one (`type/subtype`, parameters dropped),
/// else a guess from the name, else `application/octet-stream`.
fn content_type_of(declared: Option<&str>, name: &str) -> String {
    let declared = declared
        .and_then(|d| d.parse::<mime_guess::mime::Mime>().ok())
        .filter(|m| m.type_() != mime_guess::mime::STAR)
        .map(|m| m.essence_str().to_string());
    declared.unwrap_or_else(|| {
        mime_guess::from_path(name)
            .first_or_octet_stream()
            .essence_str()
            .to_string()
    })
}

/// Where clients reach this server: `--public-url` if given, else `http://` and the request's
/// `Host` header.
fn base_url(shared: &Shared, headers: &HeaderMap) -> String {
    if let Some(url) = &shared.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `GET /files/{kind}/{name}`: a stored file from whichever of `stores` holds it, as inert
/// data.
pub(crate) fn serve<'a>(
    stores: impl IntoIterator<Item = &'a FileStore>,
    dir: &str,
    name: &str,
) -> Response {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.ends_with(".type")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
    let found = Kind::parse(dir)
        .filter(|_| plain)
        .and_then(|kind| stores.into_iter().find_map(|store| store.get(kind, name)));
    let Some((content_type, bytes)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let image = content_type.as_bytes().starts_with(b"image/")
        && content_type.as_bytes() != b"image/svg+xml";
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if !image {
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_folders_and_keep_plain_extensions() {
        assert_eq!(clean_name("C:\\Users\\jan\\photo.PNG"), "photo.PNG");
        assert_eq!(clean_name("/etc/passwd"), "passwd");
        assert_eq!(extension("photo.PNG"), "png");
        assert_eq!(extension("archive.tar.gz"), "gz");
        assert_eq!(extension("no-extension"), "");
        assert_eq!(extension("bad.<script>"), "");
        assert_eq!(clean_name(&"é".repeat(200)).len(), 254);
    }

    #[test]
    fn content_types_come_from_the_part_or_the_name() {
        assert_eq!(content_type_of(Some("image/png"), "x"), "image/png");
        assert_eq!(
            content_type_of(Some("text/plain; charset=utf-8"), "x"),
            "text/plain"
        );
        assert_eq!(content_type_of(Some("not a type"), "a.jpg"), "image/jpeg");
        assert_eq!(content_type_of(None, "a.pdf"), "application/pdf");
        assert_eq!(content_type_of(None, "a"), "application/octet-stream");
    }

    #[test]
    fn the_memory_store_is_bounded_and_gives_back_what_it_keeps() {
        let store = FileStore::in_memory();
        let path = store
            .put(Kind::Image, "png", "image/png", Bytes::from_static(b"png"))
            .unwrap();
        assert!(path.starts_with("img/") && path.ends_with(".png"));
        let name = path.trim_start_matches("img/");
        assert_eq!(
            store.get(Kind::Image, name),
            Some(("image/png".to_string(), Bytes::from_static(b"png")))
        );
        assert_eq!(store.get(Kind::Attachment, name), None);
        let big = Bytes::from(vec![0u8; MEMORY_CAP]);
        assert!(matches!(
            store.put(Kind::Attachment, "", "x/y", big),
            Err(StoreError::Full)
        ));
        store.remove(&path);
        assert_eq!(store.get(Kind::Image, name), None);
    }

    #[test]
    fn the_disk_store_writes_under_its_folder() {
        let dir = std::env::temp_dir().join(format!("chatio-files-{}", std::process::id()));
        let store = FileStore::in_dir(dir.clone());
        let path = store
            .put(
                Kind::Attachment,
                "txt",
                "text/plain",
                Bytes::from_static(b"hi"),
            )
            .unwrap();
        assert!(dir.join(&path).exists());
        let name = path.trim_start_matches("att/");
        assert_eq!(
            store
                .get(Kind::Attachment, name)
                .map(|(t, b)| (t, b.to_vec())),
            Some(("text/plain".to_string(), b"hi".to_vec()))
        );
        store.remove(&path);
        assert!(!dir.join(&path).exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
