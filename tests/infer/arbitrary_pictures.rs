//! Property tests: any picture (size, colour type, content) preprocesses without panicking into
//! 28x28 pixels or "no digit", and any file given as a picture is classified or refused with an
//! error that names it.

use image::{DynamicImage, GrayImage, RgbaImage};
use infer::preprocess::mnist_pixels;
use infer::read_digit;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

fn picture() -> impl Strategy<Value = DynamicImage> {
    (1u32..48, 1u32..48, any::<bool>(), any::<u64>()).prop_map(|(w, h, rgba, seed)| {
        // Cheap deterministic pixels from the seed (proptest shrinks the seed and the size).
        let value = |x: u32, y: u32, c: u32| {
            let v = seed ^ ((x as u64) << 7) ^ ((y as u64) << 17) ^ ((c as u64) << 29);
            (v.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
        };
        if rgba {
            DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba([
                    value(x, y, 0),
                    value(x, y, 1),
                    value(x, y, 2),
                    value(x, y, 3),
                ])
            }))
        } else {
            DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, y| {
                image::Luma([value(x, y, 0)])
            }))
        }
    })
}

proptest! {
    // Seeded, so that a failure reproduces on every run.
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_seed: RngSeed::Fixed(crate::TEST_SEED),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_picture_preprocesses_without_panicking(picture in picture()) {
        if let Some(pixels) = mnist_pixels(&picture) {
            prop_assert_eq!(pixels.len(), mnist_data::IMAGE_PIXELS);
        }
    }

    #[test]
    fn any_file_is_read_or_refused_by_name(
        picture in picture(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = std::io::Cursor::new(Vec::new());
        picture.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
        let mut bytes = bytes.into_inner();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        bytes.truncate(cut.index(bytes.len() + 1).max(1));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digit.png");
        std::fs::write(&path, &bytes).unwrap();
        if let Err(error) = read_digit(&path) {
            let message = error.to_string();
            prop_assert!(message.contains(&path.display().to_string()), "{}", message);
        }
    }
}
