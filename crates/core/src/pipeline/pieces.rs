//! Every kind of piece decoded into the strings it holds, for the
//! detectors of `validate-store` (typed, so field names, which are ours,
//! are not scanned; values and front matter keys are).

use crate::error::Result;
use crate::store::piece::{self, PieceKind};
use std::path::Path;

/// The strings of a piece's body, one per line.
pub fn strings(kind: PieceKind, body: &[u8]) -> std::result::Result<String, String> {
    strings_of(kind, body).map_err(|e| match e {
        crate::error::Error::Corrupt { detail, .. } => detail,
        other => other.to_string(),
    })
}

fn strings_of(kind: PieceKind, body: &[u8]) -> Result<String> {
    let origin = Path::new("");
    let mut out = String::new();
    let collect = |value: &dyn erased::Strings, out: &mut String| value.strings(out);
    match kind {
        PieceKind::Records => {
            let records = crate::ingest::decode_records(body, origin)?;
            collect(&records, &mut out);
        }
        PieceKind::Documents => {
            let group = crate::ingest::document::DocumentGroup::from_body(body).map_err(|e| {
                crate::error::Error::corrupt(origin, format!("invalid documents piece: {e}"))
            })?;
            collect(&group.documents, &mut out);
        }
        PieceKind::Extraction => {
            let group: crate::extract::stage::ExtractionGroup =
                piece::decode_body(kind, body, origin)?;
            collect(&group, &mut out);
        }
        PieceKind::Resolutions => {
            let v: Vec<crate::link::entries::DocResolutions> =
                piece::decode_body(kind, body, origin)?;
            collect(&v, &mut out);
        }
        PieceKind::Links => {
            let v: Vec<crate::link::entries::NoteLinks> = piece::decode_body(kind, body, origin)?;
            collect(&v, &mut out);
        }
        PieceKind::Technologies => {
            let v: Vec<crate::link::entries::TechEntry> = piece::decode_body(kind, body, origin)?;
            collect(&v, &mut out);
        }
        PieceKind::Entities => {
            let _: Vec<crate::link::entries::EntityRef> = piece::decode_body(kind, body, origin)?;
        }
        PieceKind::Keys => {
            let v: Vec<crate::link::entries::KeyEntry> = piece::decode_body(kind, body, origin)?;
            collect(&v, &mut out);
        }
        PieceKind::Search => {
            let v: crate::index::stage::SearchPiece = piece::decode_body(kind, body, origin)?;
            collect(&crate::index::stage::search_strings(&v), &mut out);
        }
        PieceKind::TechSearch => {
            let v: crate::index::stage::TechSearchPiece = piece::decode_body(kind, body, origin)?;
            collect(&crate::index::stage::tech_search_strings(&v), &mut out);
        }
        PieceKind::GitCommits => {
            let v: Vec<crate::git::record::CommitRecord> = piece::decode_body(kind, body, origin)?;
            collect(&v, &mut out);
        }
        PieceKind::GitFiles => {
            let v: Vec<crate::git::record::FileHistory> = piece::decode_body(kind, body, origin)?;
            collect(&v, &mut out);
        }
        PieceKind::GitRepo => {
            let v: crate::git::stage::RepoPiece = piece::decode_body(kind, body, origin)?;
            collect(&v, &mut out);
        }
        // Table nodes hold ids only (checked where tables are read).
        PieceKind::Table => {}
    }
    Ok(out)
}

/// Strings of any serializable value, behind a trait object (the match
/// above holds values of many types).
mod erased {
    pub trait Strings {
        fn strings(&self, out: &mut String);
    }

    impl<T: serde::Serialize> Strings for T {
        fn strings(&self, out: &mut String) {
            crate::pipeline::strings::collect(self, out);
        }
    }
}
