//! Every file `infer` reads is a regular file within a budget, and every number a user gives is
//! checked before it sizes anything: a FIFO, a device, a picture that declares 20000x20000
//! pixels, a padding of 2^64-1 or a file where a folder belongs each get a clear error, at once.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::common::{infer, model_dir, test_idx};
use crate::programs::assert_clean_failure;

/// Runs `infer ARGS`, killed (and the test failed) if it takes over a minute: a reader that
/// blocks on a FIFO would otherwise hang the test.
fn infer_within_a_minute(args: &[&str]) -> Output {
    let mut child = Command::new(crate::programs::program("infer"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!("infer {args:?} still runs after a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn fifo(path: &Path) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

/// A PNG whose header declares `width` x `height` grey pixels, with almost no pixel data.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    fn chunk(kind: &[u8; 4], data: &[u8], out: &mut Vec<u8>) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 0, 0, 0, 0]);
    chunk(b"IHDR", &header, &mut png);
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut encoder, &vec![0u8; 1 << 16]).unwrap();
    chunk(b"IDAT", &encoder.finish().unwrap(), &mut png);
    chunk(b"IEND", &[], &mut png);
    png
}

#[test]
fn inputs_that_are_not_regular_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("fifo.png");
    fifo(&picture);
    let model = model_dir().to_str().unwrap();
    let stderr = assert_clean_failure(&infer_within_a_minute(&[
        "predict",
        "--model",
        model,
        picture.to_str().unwrap(),
    ]));
    assert!(
        stderr.contains("fifo.png") && stderr.contains("not a regular file"),
        "{stderr}"
    );
    let stderr = assert_clean_failure(&infer_within_a_minute(&[
        "pool",
        "--kind",
        "max",
        "/dev/zero",
    ]));
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("not a regular file"),
        "{stderr}"
    );
}

#[test]
fn a_picture_declaring_too_many_pixels_is_refused_before_it_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.png");
    std::fs::write(&bomb, png_declaring(20_000, 20_000)).unwrap();
    let model = model_dir().to_str().unwrap();
    let out = dir.path().join("out.png");
    for args in [
        vec!["predict", "--model", model, bomb.to_str().unwrap()],
        vec![
            "convolve",
            "--kernel",
            "blur",
            bomb.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    ] {
        let stderr = assert_clean_failure(&infer_within_a_minute(&args));
        assert!(
            stderr.contains("bomb.png")
                && stderr.contains("20000x20000 pixels, more than the 16.8"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_padding_too_large_to_allocate_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = dir.path().join("m.txt");
    std::fs::write(&matrix, "1 2 3\n4 5 6\n7 8 9\n").unwrap();
    for padding in ["18446744073709551615", "1000000000", "100000"] {
        let stderr = assert_clean_failure(&infer_within_a_minute(&[
            "convolve",
            "--kernel",
            "blur",
            "--padding",
            padding,
            matrix.to_str().unwrap(),
        ]));
        assert!(
            stderr.contains("m.txt") && stderr.contains("values a matrix may have"),
            "--padding {padding}: {stderr}"
        );
    }
}

#[test]
fn a_file_where_a_folder_belongs_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    let model = model_dir().to_str().unwrap();
    let idx = test_idx();
    let labels = super::common::test_labels();
    let stderr = assert_clean_failure(&infer(&[
        "eval",
        "--model",
        model,
        "--images",
        &idx,
        "--labels",
        &labels,
        "--out",
        file.to_str().unwrap(),
    ]));
    assert!(stderr.contains("afile is a file, not a folder"), "{stderr}");

    let picture = dir.path().join("two.png");
    std::fs::write(&picture, png_declaring(28, 28)).unwrap();
    let stderr = assert_clean_failure(&infer(&[
        "predict",
        "--model",
        picture.to_str().unwrap(),
        picture.to_str().unwrap(),
    ]));
    assert!(
        stderr.contains("two.png is a file, not a model"),
        "{stderr}"
    );
}

#[test]
fn import_does_not_overwrite_a_model_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("m.safetensors");
    let model = model_dir().to_str().unwrap();
    let out = infer(&[
        "export",
        "--model",
        model,
        "--out",
        weights.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let file = dir.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    let import = |to: &Path, force: bool| {
        let mut args = vec![
            "import",
            "--from",
            weights.to_str().unwrap(),
            "--out",
            to.to_str().unwrap(),
        ];
        if force {
            args.push("--force");
        }
        infer(&args)
    };
    let stderr = assert_clean_failure(&import(&file, false));
    assert!(
        stderr.contains("afile: is a file, not a folder"),
        "{stderr}"
    );
    let target = dir.path().join("model");
    assert!(import(&target, false).status.success());
    let stderr = assert_clean_failure(&import(&target, false));
    assert!(
        stderr.contains("already holds a model; pass --force"),
        "{stderr}"
    );
    assert!(import(&target, true).status.success());
}

#[test]
fn export_past_a_file_size_limit_says_so_and_leaves_nothing() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.safetensors");
    let mut command = Command::new(crate::programs::program("infer"));
    command.args([
        "export",
        "--model",
        model_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    // Files may not grow past 100 kB (LeNet-5's weights are 247 kB); SIGXFSZ is left at its
    // default, which kills a program that does not ignore it.
    // SAFETY: between fork and exec only an async-signal-safe call (setrlimit) is made.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 100_000,
                rlim_max: 100_000,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let stderr = assert_clean_failure(&command.output().unwrap());
    assert!(
        stderr.contains("m.safetensors") && stderr.contains("File too large"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
