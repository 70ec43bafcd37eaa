//! File events and their limits.

use serde::{Deserialize, Serialize};

use super::check_label;
use super::event::non_empty;
use crate::error::Error;

/// The largest file accepted: 10 MB, as the protocol documents for uploads.
pub const MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// A file the host stored; the event carries its metadata and where to fetch it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// The file's name.
    pub name: String,
    /// Where clients fetch it.
    pub url: String,
    /// Its MIME type, e.g. `image/png`.
    pub content_type: String,
    /// Its size in bytes; at most [`MAX_FILE_SIZE`].
    pub size: u64,
    /// Width in pixels; only for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels; only for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl File {
    /// True when the content type is an image type (`image/...`).
    pub fn is_image(&self) -> bool {
        self.content_type
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("image/"))
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        non_empty("file.name", &self.name)?;
        non_empty("file.url", &self.url)?;
        non_empty("file.content_type", &self.content_type)?;
        check_label("file.name", &self.name)?;
        check_label("file.url", &self.url)?;
        check_label("file.content_type", &self.content_type)?;
        if self.size > MAX_FILE_SIZE {
            return Err(Error::InvalidField {
                field: "file.size",
                reason: format!("{} bytes is over the {MAX_FILE_SIZE}-byte limit", self.size),
            });
        }
        if !self.is_image() && (self.width.is_some() || self.height.is_some()) {
            return Err(Error::InvalidField {
                field: "file.width",
                reason: format!(
                    "width and height are only for images, not {}",
                    self.content_type
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(size: u64) -> File {
        File {
            name: "a.png".into(),
            url: "https://x/a.png".into(),
            content_type: "image/png".into(),
            size,
            width: Some(640),
            height: Some(480),
        }
    }

    #[test]
    fn file_size_limit_is_ten_megabytes() {
        assert!(png(MAX_FILE_SIZE).validate().is_ok());
        assert!(png(MAX_FILE_SIZE + 1).validate().is_err());
    }

    #[test]
    fn dimensions_only_for_images() {
        let mut pdf = png(10);
        pdf.content_type = "application/pdf".into();
        assert!(pdf.validate().is_err());
        pdf.width = None;
        pdf.height = None;
        assert!(pdf.validate().is_ok());
    }
}
