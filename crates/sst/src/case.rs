//! The test-file format (JSON, gzip-compressed) and the metadata file.

use crate::SstError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Registers of a state; `final` lists only those that changed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Regs {
    pub ax: Option<u16>,
    pub bx: Option<u16>,
    pub cx: Option<u16>,
    pub dx: Option<u16>,
    pub cs: Option<u16>,
    pub ss: Option<u16>,
    pub ds: Option<u16>,
    pub es: Option<u16>,
    pub sp: Option<u16>,
    pub bp: Option<u16>,
    pub si: Option<u16>,
    pub di: Option<u16>,
    pub ip: Option<u16>,
    pub flags: Option<u16>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct State {
    pub regs: Regs,
    /// `[physical address, byte]` pairs.
    pub ram: Vec<(u32, u8)>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
    pub initial: State,
    #[serde(rename = "final")]
    pub fin: State,
    #[serde(default, alias = "test_hash")]
    pub hash: String,
    /// The exception the chip took, where the vectors record it.
    #[serde(default)]
    pub exception: Option<ExceptionInfo>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExceptionInfo {
    pub number: u8,
    /// Address of the FLAGS image the exception pushed.
    pub flag_address: u32,
}

/// Read one `*.json.gz` file.
pub fn load(path: &Path) -> Result<Vec<Case>, SstError> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| SstError::Io {
        path: name.clone(),
        source,
    })?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(f)
        .read_to_string(&mut text)
        .map_err(|source| SstError::Io {
            path: name.clone(),
            source,
        })?;
    serde_json::from_str(&text).map_err(|source| SstError::Json { path: name, source })
}

/// Per-opcode information from `metadata.json`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OpInfo {
    pub status: Option<String>,
    #[serde(rename = "flags-mask")]
    pub flags_mask: Option<u16>,
    #[serde(default)]
    pub reg: BTreeMap<String, OpInfo>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub opcodes: BTreeMap<String, OpInfo>,
}

impl Metadata {
    pub fn load(dir: &Path) -> Result<Self, SstError> {
        let path = dir.join("metadata.json");
        let name = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|source| SstError::Json { path: name, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(SstError::Io { path: name, source }),
        }
    }

    /// Info for a file stem such as `80.3` (opcode 80, reg field 3) or `F6`.
    pub fn info(&self, stem: &str) -> OpInfo {
        let (op, reg) = match stem.split_once('.') {
            Some((o, r)) => (o, Some(r)),
            None => (stem, None),
        };
        let Some(top) = self.opcodes.get(op) else {
            return OpInfo::default();
        };
        match reg.and_then(|r| top.reg.get(r)) {
            Some(sub) => sub.clone(),
            None => top.clone(),
        }
    }
}
