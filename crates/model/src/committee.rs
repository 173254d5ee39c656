//! A committee of networks: several trained networks whose averaged class probabilities make
//! one classifier (the committees of Ciresan et al. 2012; `training --restarts K --ensemble`,
//! `infer predict --model A --model B`). Here: the average, a committee's scores on a
//! labelled set, and `committee.json`, the file that makes a run folder a committee.
//!
//! The average is taken in `f64`, member by member in the committee's order, and rounded to
//! `f32` once, so a committee of one network gives that network's probabilities bit for bit.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use custom_kernels::KernelBackend;
use mnist_data::{CLASSES, MnistDataset};
use workbench_io::atomic_write;
use workbench_io::names::COMMITTEE_FILE;

use crate::network::{ModelConfig, Network};
use crate::persist::{MAX_CONFIG_BYTES, PersistError, load_model};
use crate::scoring::{SetScores, score_set};

/// Most networks of one committee, in `committee.json` or from several `infer --model`s:
/// past Ciresan's 35, and a bound on what a committee makes a program load (64 MLPs are about
/// 1 GB of weights).
pub const MAX_MEMBERS: usize = 64;

/// The averaged probabilities of a committee: `members[m][i]` is member `m`'s probabilities of
/// image `i`; every member has scored the same images.
///
/// # Panics
/// If there are no members or they scored different numbers of images.
pub fn mean_probabilities(members: &[&[[f32; CLASSES]]]) -> Vec<[f32; CLASSES]> {
    let first = members.first().expect("a committee has members");
    assert!(
        members.iter().all(|m| m.len() == first.len()),
        "the members scored different numbers of images"
    );
    (0..first.len())
        .map(|image| {
            let mut sum = [0f64; CLASSES];
            for member in members {
                for (s, &p) in sum.iter_mut().zip(&member[image]) {
                    *s += f64::from(p);
                }
            }
            sum.map(|s| (s / members.len() as f64) as f32)
        })
        .collect()
}

impl SetScores {
    /// The committee of `members`, each the scores of one network on the same images: the
    /// averaged probabilities, and as loss the mean cross-entropy of those: `-ln` of the true
    /// digit's averaged probability, as rounded to `f32` and floored at `f32::MIN_POSITIVE`
    /// (at most 87.3 per image). A member's own loss comes from its logits
    /// ([`score_set`]), so a committee of two equal networks may report a loss that differs
    /// from either's in the last digits. A committee of one is that member's scores, unchanged.
    ///
    /// # Panics
    /// If there are no members or they scored different images.
    pub fn committee(members: &[SetScores]) -> SetScores {
        let first = members.first().expect("a committee has members");
        assert!(
            members.iter().all(|m| m.labels == first.labels),
            "the members scored different images"
        );
        if members.len() == 1 {
            return first.clone();
        }
        let probabilities = mean_probabilities(
            &members
                .iter()
                .map(|m| m.probabilities.as_slice())
                .collect::<Vec<_>>(),
        );
        let loss = if first.is_empty() {
            f64::NAN
        } else {
            probabilities
                .iter()
                .zip(&first.labels)
                .map(|(p, &label)| -f64::from(p[usize::from(label)].max(f32::MIN_POSITIVE)).ln())
                .sum::<f64>()
                / first.len() as f64
        };
        SetScores {
            probabilities,
            labels: first.labels.clone(),
            loss,
        }
    }
}

/// A committee scored on a labelled set: every member's scores, in order, and the committee's.
#[derive(Clone, Debug, PartialEq)]
pub struct CommitteeScores {
    /// Each member's scores.
    pub members: Vec<SetScores>,
    /// The averaged probabilities' ([`SetScores::committee`]).
    pub committee: SetScores,
}

/// Scores every network of a committee on `dataset` ([`score_set`]) and the committee.
///
/// # Panics
/// If `networks` is empty.
pub fn score_committee<B: KernelBackend>(
    networks: &[Network<B>],
    dataset: &MnistDataset,
    batch_size: usize,
    device: &B::Device,
) -> CommitteeScores {
    let members: Vec<SetScores> = networks
        .iter()
        .map(|network| score_set(network, dataset, batch_size, device))
        .collect();
    let committee = SetScores::committee(&members);
    CommitteeScores { members, committee }
}

/// `committee.json`: the members' folders, relative to the committee's folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitteeFile {
    members: Vec<PathBuf>,
}

/// Writes `committee.json` into `dir`, naming `members` (folders inside `dir`, relative to it)
/// as its committee, atomically.
///
/// # Panics
/// If a member is not a relative path inside `dir` (a caller's mistake, not a user's).
pub fn save_committee(dir: &Path, members: &[PathBuf]) -> Result<(), PersistError> {
    for member in members {
        assert!(stays_inside(member), "{} is not inside", member.display());
    }
    let json = serde_json::to_vec_pretty(&CommitteeFile {
        members: members.to_vec(),
    })
    .expect("a committee serialises");
    let path = dir.join(COMMITTEE_FILE);
    atomic_write(&path, &json).map_err(|source| PersistError::Write { path, source })
}

/// The member folders of the committee in `dir` (absolute or relative as `dir` is), or `None`
/// when `dir` holds no `committee.json`. The file is read within a size budget and checked:
/// 1 to [`MAX_MEMBERS`] members, none named twice, each a folder inside `dir` (no `..`, no
/// absolute path, no symbolic link leading out) that is not a committee itself.
pub fn committee_members(dir: &Path) -> Result<Option<Vec<PathBuf>>, PersistError> {
    let path = dir.join(COMMITTEE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = workbench_io::read_limited(&path, MAX_CONFIG_BYTES).map_err(|source| {
        PersistError::Read {
            path: path.clone(),
            source,
        }
    })?;
    let invalid = |problem: String| PersistError::Committee {
        path: path.clone(),
        problem,
    };
    let file: CommitteeFile =
        serde_json::from_slice(&bytes).map_err(|error| invalid(error.to_string()))?;
    if !(1..=MAX_MEMBERS).contains(&file.members.len()) {
        return Err(invalid(format!(
            "a committee has 1 to {MAX_MEMBERS} networks, this one {}",
            file.members.len()
        )));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = file.members.iter().find(|m| !seen.insert(*m)) {
        return Err(invalid(format!(
            "it names {:?} twice",
            twice.display().to_string()
        )));
    }
    // Where the folder really is, to see where each member leads (through links too).
    let real_dir = dir.canonicalize().map_err(|source| PersistError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut members = Vec::with_capacity(file.members.len());
    for member in &file.members {
        let shown = format!("{:?}", member.display().to_string());
        let outside = || {
            invalid(format!(
                "member {shown} is not a folder inside the committee's folder"
            ))
        };
        if !stays_inside(member) {
            return Err(outside());
        }
        let folder = dir.join(member);
        // A member that does not exist is reported by the loader, naming its missing file.
        if let Ok(real) = folder.canonicalize()
            && (!real.starts_with(&real_dir) || real == real_dir)
        {
            return Err(outside());
        }
        if folder.join(COMMITTEE_FILE).exists() {
            return Err(invalid(format!(
                "member {shown} is a committee itself (committees do not nest)"
            )));
        }
        members.push(folder);
    }
    Ok(Some(members))
}

/// Whether `path` is relative and names something below its base (only plain names).
fn stays_inside(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Loads the networks a model folder holds: its committee's members when it holds a
/// `committee.json` ([`committee_members`]), else its one network ([`load_model`]).
pub fn load_members<B: KernelBackend>(
    dir: &Path,
    device: &B::Device,
) -> Result<Vec<(Network<B>, ModelConfig)>, PersistError> {
    match committee_members(dir)? {
        Some(members) => members
            .iter()
            .map(|member| load_model::<B>(member, device))
            .collect(),
        None => Ok(vec![load_model::<B>(dir, device)?]),
    }
}
