//! Each relocation's encoding and range check, on instruction words the compiler emits.

use super::*;
use alloc::string::ToString;

const BL: u32 = 0x9400_0000;
const CBZ_X0: u32 = 0xb400_0000;
const ADRP_X0: u32 = 0x9000_0000;
const ADD_X0_X0: u32 = 0x9100_0000;
const LDR_X0_X0: u32 = 0xf940_0000;

fn run(r_type: u32, place: u64, value: u64, word: u32) -> Result<u32, LoadError> {
    let mut field = word.to_le_bytes().to_vec();
    field.extend_from_slice(&[0; 4]);
    let site = Site { section: ".text.f", offset: 8, addr: place };
    apply(r_type, &site, "target", value, &mut field)?;
    Ok(u32::from_le_bytes([field[0], field[1], field[2], field[3]]))
}

#[test]
fn call26_encodes_the_word_offset_and_refuses_beyond_128_mib() {
    assert_eq!(run(R_AARCH64_CALL26, 0x4200_0000, 0x4200_1000, BL), Ok(BL | 0x400));
    assert_eq!(run(R_AARCH64_CALL26, 0x4200_0000, 0x41ff_fffc, BL), Ok(BL | 0x03ff_ffff));
    let far = run(R_AARCH64_CALL26, 0x4200_0000, 0x4200_0000 + (128 << 20), BL).unwrap_err();
    assert!(matches!(far, LoadError::OutOfRange { limit: "±128 MiB", .. }), "{far}");
    let odd = run(R_AARCH64_CALL26, 0x4200_0000, 0x4200_1002, BL).unwrap_err();
    assert!(matches!(odd, LoadError::Misaligned { .. }), "{odd}");
}

#[test]
fn condbr19_refuses_a_kernel_function_from_the_module_area() {
    assert_eq!(run(R_AARCH64_CONDBR19, 0x4200_0000, 0x4200_0040, CBZ_X0), Ok(CBZ_X0 | (0x10 << 5)));
    let error = run(R_AARCH64_CONDBR19, 0x4200_0004, 0x4021_0000, CBZ_X0).unwrap_err();
    assert_eq!(
        error.to_string(),
        "R_AARCH64_CONDBR19 at .text.f+0x8 to target: -0x1df0004 out of range (±1 MiB)"
    );
}

#[test]
fn adrp_add_and_ldst64_split_an_address_into_page_and_offset() {
    let (place, target) = (0x4200_0010, 0x4020_1238);
    let adrp = run(R_AARCH64_ADR_PREL_PG_HI21, place, target, ADRP_X0).unwrap();
    let pages = ((adrp >> 5) & 0x7ffff) << 2 | (adrp >> 29) & 3;
    let pages = ((pages as i32) << 11) >> 11; // sign-extend 21 bits
    assert_eq!((place & !0xfff) as i64 + (i64::from(pages) << 12), (target & !0xfff) as i64);
    assert_eq!(run(R_AARCH64_ADD_ABS_LO12_NC, place, target, ADD_X0_X0), Ok(ADD_X0_X0 | (0x238 << 10)));
    assert_eq!(run(R_AARCH64_LDST64_ABS_LO12_NC, place, target, LDR_X0_X0), Ok(LDR_X0_X0 | (0x47 << 10)));
    let misaligned = run(R_AARCH64_LDST64_ABS_LO12_NC, place, target + 4, LDR_X0_X0).unwrap_err();
    assert!(matches!(misaligned, LoadError::Misaligned { .. }), "{misaligned}");
}

#[test]
fn prel32_is_relative_and_range_checked() {
    assert_eq!(run(R_AARCH64_PREL32, 0x4200_0000, 0x4020_0000, 0), Ok((-0x1e0_0000i32) as u32));
    let error = run(R_AARCH64_PREL32, 0x4200_0000, 0x1_4200_0000, 0).unwrap_err();
    assert!(matches!(error, LoadError::OutOfRange { limit: "±2 GiB", .. }), "{error}");
}

#[test]
fn an_unknown_type_is_refused_by_name() {
    let error = run(R_AARCH64_MOVW_UABS_G0_NC, 0x4200_0000, 0x4200_1000, 0xd280_0000).unwrap_err();
    assert_eq!(error.to_string(), "unknown relocation R_AARCH64_MOVW_UABS_G0_NC (264) at .text.f+0x8");
    assert_eq!(relocation_name(9999), "type 9999");
}
