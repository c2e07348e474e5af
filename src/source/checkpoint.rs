//! Checkpoints: where each input got to, so a restart neither loses nor
//! repeats more than the last interval. One JSON file in the state directory,
//! replaced atomically (temp file, fsync, rename, fsync of the directory).
//!
//! Positions reach this table only after the outputs have written and flushed
//! every event before them (the sink thread records them), so a checkpoint
//! never points past an event that was not delivered.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const FILE_NAME: &str = "checkpoints.json";

/// A file's identity: device and inode, plus a fingerprint of its first bytes
/// (inodes are reused after deletion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// Where a file was read to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub input: String,
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// How many leading bytes the fingerprint covers.
    pub fp_len: u64,
    /// FNV-1a of those bytes, hex.
    pub fp: String,
    /// Every status line before this byte offset has been delivered.
    pub offset: u64,
}

/// What a checkpoint update says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    File(FileCheckpoint),
    /// The file is gone from the input (rotated away and drained): forget it.
    Forget {
        input: String,
        id: FileId,
    },
    /// A journal cursor.
    Cursor {
        input: String,
        cursor: String,
    },
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Stored {
    version: u32,
    #[serde(default)]
    files: Vec<FileCheckpoint>,
    #[serde(default)]
    cursors: BTreeMap<String, String>,
}

/// All inputs' positions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checkpoints {
    files: BTreeMap<(String, FileId), FileCheckpoint>,
    cursors: BTreeMap<String, String>,
    /// Inputs that had any checkpoint when loaded (their new files start at the beginning).
    known_inputs: std::collections::BTreeSet<String>,
    dirty: bool,
}

impl Checkpoints {
    /// Loads the table from `dir` (empty if there is none yet).
    pub fn load(dir: &Path) -> Result<Checkpoints> {
        let path = dir.join(FILE_NAME);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Checkpoints::default()),
            Err(e) => {
                return Err(Error::new(format!(
                    "{}: cannot read checkpoints: {e}",
                    path.display()
                )))
            }
        };
        let stored: Stored = serde_json::from_str(&text).map_err(|e| {
            Error::new(format!(
                "{}: damaged checkpoint file ({e}); move it away to start over",
                path.display()
            ))
        })?;
        let mut c = Checkpoints::default();
        for f in stored.files {
            c.known_inputs.insert(f.input.clone());
            c.files.insert(
                (
                    f.input.clone(),
                    FileId {
                        dev: f.dev,
                        ino: f.ino,
                    },
                ),
                f,
            );
        }
        for k in stored.cursors.keys() {
            c.known_inputs.insert(k.clone());
        }
        c.cursors = stored.cursors;
        Ok(c)
    }

    /// Applies one acknowledged position.
    pub fn record(&mut self, p: Position) {
        match p {
            Position::File(f) => {
                let key = (
                    f.input.clone(),
                    FileId {
                        dev: f.dev,
                        ino: f.ino,
                    },
                );
                if self.files.get(&key) != Some(&f) {
                    self.known_inputs.insert(f.input.clone());
                    self.files.insert(key, f);
                    self.dirty = true;
                }
            }
            Position::Forget { input, id } => {
                if self.files.remove(&(input, id)).is_some() {
                    self.dirty = true;
                }
            }
            Position::Cursor { input, cursor } => {
                if self.cursors.get(&input) != Some(&cursor) {
                    self.known_inputs.insert(input.clone());
                    self.cursors.insert(input, cursor);
                    self.dirty = true;
                }
            }
        }
    }

    /// The checkpoint of a file of `input`.
    pub fn file(&self, input: &str, id: FileId) -> Option<&FileCheckpoint> {
        self.files.get(&(input.to_string(), id))
    }

    /// Every file checkpoint of `input`.
    pub fn files_of<'a>(&'a self, input: &'a str) -> impl Iterator<Item = &'a FileCheckpoint> + 'a {
        self.files
            .iter()
            .filter(move |((i, _), _)| i == input)
            .map(|(_, f)| f)
    }

    pub fn cursor(&self, input: &str) -> Option<&str> {
        self.cursors.get(input).map(String::as_str)
    }

    /// Whether `input` had run before (then files it has not seen start at the beginning).
    pub fn knows_input(&self, input: &str) -> bool {
        self.known_inputs.contains(input)
    }

    /// Whether there are changes not yet saved.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Writes the table atomically if it changed.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let stored = Stored {
            version: 1,
            files: self.files.values().cloned().collect(),
            cursors: self.cursors.clone(),
        };
        let text = serde_json::to_vec_pretty(&stored).expect("checkpoints serialize");
        write_atomically(dir, FILE_NAME, &text).map_err(|e| {
            Error::new(format!(
                "{}: cannot write checkpoints: {e} (is the state directory writable? systemd's StateDirectory= makes it so)",
                dir.join(FILE_NAME).display()
            ))
        })?;
        self.dirty = false;
        Ok(())
    }
}

/// temp file, write, fsync, rename over, fsync the directory.
fn write_atomically(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// FNV-1a, 64 bits: a fingerprint, not a defence.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_table_loads_back_and_unchanged_table_is_not_rewritten() {
        let dir = std::env::temp_dir().join(format!("sipannotate-ckpt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut c = Checkpoints::load(&dir).unwrap();
        assert!(!c.knows_input("a"));
        let f = FileCheckpoint {
            input: "a".into(),
            path: "/var/log/x".into(),
            dev: 1,
            ino: 2,
            fp_len: 3,
            fp: "ff".into(),
            offset: 99,
        };
        c.record(Position::File(f.clone()));
        c.record(Position::Cursor {
            input: "j".into(),
            cursor: "s=abc".into(),
        });
        c.save(&dir).unwrap();
        assert!(!c.is_dirty());
        let back = Checkpoints::load(&dir).unwrap();
        assert_eq!(back.file("a", FileId { dev: 1, ino: 2 }), Some(&f));
        assert_eq!(back.cursor("j"), Some("s=abc"));
        assert!(back.knows_input("a"));
        c.record(Position::File(f));
        assert!(!c.is_dirty(), "the same position again changes nothing");
        fs::write(dir.join(FILE_NAME), "{").unwrap();
        let e = Checkpoints::load(&dir).unwrap_err().to_string();
        assert!(e.contains("damaged checkpoint file"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
