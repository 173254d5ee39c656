//! The peer side of `cargo xtask bench --peer pytorch`: the PyTorch script
//! (`xtask/peer/pytorch_bench.py`) runs as one long-lived child process, and the bench sends it
//! each case right after timing the project's side of it, so the two sides alternate case by
//! case and machine drift hits both. The script reads one JSON request per line and answers
//! one JSON line (see its header for the protocol).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::timing::{Repeats, Timing};

/// The script, found in the source tree (the bench always runs from a checkout).
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peer/pytorch_bench.py");

/// Pythons tried when `--python` is not given: the venv docs/performance.md suggests, then the
/// system's.
const DEFAULT_PYTHONS: [&str; 2] = [".venv-peer/bin/python", "python3"];

/// How to get a Python that can run the peer.
const HOW_TO_GET_TORCH: &str = "python3 -m venv .venv-peer && .venv-peer/bin/pip install torch numpy \
     (the default wheel is about 5 GB and runs on the CPU)";

/// What the peer says about itself when it starts.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PeerAbout {
    /// Always `pytorch`.
    pub peer: String,
    /// `torch.__version__`.
    pub torch: String,
    /// numpy's version.
    pub numpy: String,
    /// Python's version.
    pub python: String,
    /// Intra-op threads PyTorch uses (`torch.set_num_threads`).
    pub threads: usize,
    /// Whether PyTorch has oneDNN (MKL-DNN), its fast CPU convolutions.
    pub mkldnn: bool,
}

/// What one training epoch took on the peer.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PeerEpoch {
    /// Training and validation, seconds.
    pub seconds: f64,
    /// Training alone, seconds.
    pub train_seconds: f64,
    /// Of `seconds`, in training steps (`zero_grad` to `optimizer.step`).
    pub step_seconds: f64,
    /// Of `seconds`, in the validation pass.
    pub valid_seconds: f64,
    /// Training images.
    pub images: usize,
    /// Mean training loss (a sanity check that it trained).
    pub train_loss: f64,
    /// Validation accuracy, %.
    pub valid_accuracy: f64,
}

/// The running peer process.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// Its self-description.
    pub about: PeerAbout,
}

impl Peer {
    /// Starts the script with `python` (or the first default Python that has PyTorch) on
    /// `threads` threads.
    pub fn start(python: Option<&Path>, threads: usize) -> Result<Self> {
        let candidates: Vec<PathBuf> = match python {
            Some(path) => vec![path.to_path_buf()],
            None => DEFAULT_PYTHONS.iter().map(PathBuf::from).collect(),
        };
        let mut tried = Vec::new();
        for candidate in &candidates {
            match Self::start_with(candidate, threads) {
                Ok(peer) => return Ok(peer),
                Err(error) => tried.push(format!("{}: {error:#}", candidate.display())),
            }
        }
        bail!(
            "no Python with PyTorch found (tried {}); get one with: {HOW_TO_GET_TORCH}",
            tried.join("; ")
        )
    }

    fn start_with(python: &Path, threads: usize) -> Result<Self> {
        let mut child = Command::new(python)
            .arg("-u")
            .arg(SCRIPT)
            .arg("--threads")
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start it")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut stderr = child.stderr.take().context("no stderr")?;
        let mut hello = String::new();
        stdout.read_line(&mut hello)?;
        let about: PeerAbout = match serde_json::from_str(&hello) {
            Ok(about) => about,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let mut message = String::new();
                let _ = stderr.read_to_string(&mut message);
                let last = message.lines().rfind(|l| !l.trim().is_empty());
                bail!("{}", last.unwrap_or("the script printed nothing").trim());
            }
        };
        // Whatever the script prints to stderr from now on (warnings) goes to ours; a pipe
        // nobody reads would block it once full.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stderr, &mut std::io::stderr());
        });
        Ok(Self {
            child,
            stdin,
            stdout,
            about,
        })
    }

    fn request(&mut self, request: Value) -> Result<Value> {
        writeln!(self.stdin, "{request}")
            .and_then(|()| self.stdin.flush())
            .context("the PyTorch peer has stopped reading")?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("the PyTorch peer exited");
        }
        let answer: Value = serde_json::from_str(&line)
            .with_context(|| format!("the PyTorch peer answered {line:?}"))?;
        if let Some(error) = answer.get("error") {
            bail!("the PyTorch peer failed: {error}");
        }
        Ok(answer)
    }

    /// Times one case (described as the script expects) with the bench's repeat rule.
    pub fn time(&mut self, case: &impl Serialize, repeats: Repeats) -> Result<Timing> {
        let answer = self.request(json!({
            "case": case,
            "repeats": {
                "warmup": repeats.warmup,
                "fixed": repeats.fixed,
                "budget_ms": repeats.budget.as_millis() as u64,
            },
        }))?;
        Ok(serde_json::from_value(answer)?)
    }

    /// Trains one epoch as described by `spec`.
    pub fn epoch(&mut self, spec: &impl Serialize) -> Result<PeerEpoch> {
        let answer = self.request(json!({ "epoch": spec }))?;
        Ok(serde_json::from_value(answer)?)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // The script ends at the end of its input; stop it outright if it does not.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a Python that can run the script, the error is one line that says what was
    /// tried and how to get PyTorch.
    #[test]
    fn a_missing_python_is_reported_with_the_way_to_get_one() {
        let missing = Path::new("/nonexistent/python3");
        let error = Peer::start(Some(missing), 1).err().expect("no peer");
        let message = format!("{error:#}");
        assert!(message.contains("/nonexistent/python3"), "{message}");
        assert!(message.contains(HOW_TO_GET_TORCH), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}
