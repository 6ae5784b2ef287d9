//! Phone numbers as people type them, read in a country and kept as E.164.
//!
//! The `phonenumber` crate does the reading. This module stands between it
//! and hostile input: the length is capped and the characters are checked
//! before the crate sees the text, and the crate runs inside `catch_unwind`
//! (its parser and validator `unwrap` internally), so a bad number is an
//! error for one field, never a dead worker thread.

use isocountry::CountryCode;
use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, ParseError, PhoneNumber};
use std::panic;

/// Characters, not bytes. The longest real number with its separators and an
/// international prefix fits with room to spare; anything longer is refused
/// before the crate's regular expressions run over it.
pub const MAX_PHONE_INPUT: usize = 40;

/// A number the crate read and found valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPhone {
    /// `+`, the country calling code and the national number, no separators.
    pub e164: String,
    /// ISO 3166-1 alpha-2 of the number's region when the crate knows it (an
    /// NZ number given with AU is NZ), else the country it was read in.
    pub country: Option<&'static str>,
}

/// An ISO 3166-1 country given as alpha-2 in any case ("au") or as its
/// numeric id ("36", "036"), as its alpha-2 in upper case. Billers' files
/// carry both forms; everything else in the service speaks alpha-2.
pub fn country(input: &str) -> Option<&'static str> {
    let input = input.trim();
    let code = if input.len() == 2 && input.bytes().all(|b| b.is_ascii_alphabetic()) {
        CountryCode::for_alpha2(&input.to_ascii_uppercase()).ok()?
    } else if (1..=3).contains(&input.len()) && input.bytes().all(|b| b.is_ascii_digit()) {
        CountryCode::for_id(input.parse().ok()?).ok()?
    } else {
        return None;
    };
    Some(code.alpha2())
}

/// A country's ISO 3166-1 numeric id ("AU" is 36), as some providers name countries.
pub fn numeric_id(alpha2: &str) -> Option<u32> {
    CountryCode::for_alpha2(alpha2).ok().map(|c| c.numeric_id())
}

/// The country calling code of a number in E.164 (`+919219133921` is 91).
pub fn calling_code(e164: &str) -> Option<u16> {
    let parsed = panic::catch_unwind(|| phonenumber::parse(None, e164)).ok()?.ok()?;
    Some(parsed.code().value())
}

/// Every alpha-2 code `country` takes, in upper case and in order.
pub fn alpha2_codes() -> impl Iterator<Item = &'static str> {
    CountryCode::iter_alpha2().map(CountryCode::alpha2)
}

/// Reads `number` as a person typed it: local ("0400 000 000", read in
/// `country`) or international ("+61 400 000 000", country optional). The
/// error is a short reason that reads after the field's name, e.g.
/// "phones[0].number is too short for AU".
pub fn parse(number: &str, country: Option<&str>) -> Result<ParsedPhone, String> {
    // Stops after MAX + 1 characters: a megabyte of digits costs what 41 do.
    if number.chars().nth(MAX_PHONE_INPUT).is_some() {
        return Err(format!("must be at most {MAX_PHONE_INPUT} characters"));
    }
    let number = number.trim();
    if !looks_like_a_number(number) {
        return Err("is not a phone number".into());
    }
    let given = match country {
        None => None,
        Some(c) => Some(self::country(c).ok_or("needs an ISO 3166-1 country such as AU or 036")?),
    };
    let international = number.starts_with('+');
    let id = match given {
        None if !international => return Err("needs a country to read a local number".into()),
        None => None,
        Some(cc) => match cc.parse::<Id>() {
            Ok(id) => Some(id),
            // ISO countries with no numbering plan of their own (AQ, BV, HM...):
            // an international number does not need one.
            Err(_) if international => None,
            Err(_) => return Err(format!("cannot be read as a local number in {cc}")),
        },
    };
    panic::catch_unwind(move || read(number, id, given))
        .unwrap_or_else(|_| Err("could not be read as a phone number".into()))
}

/// Digits and the separators people type, with `+` only in front. This keeps
/// from the crate what it would otherwise interpret: letters (read as keypad
/// digits), RFC 3966 `tel:` parameters and extensions, and non-ASCII text
/// (which it slices by byte).
fn looks_like_a_number(s: &str) -> bool {
    let rest = s.strip_prefix('+').unwrap_or(s);
    rest.bytes().any(|b| b.is_ascii_digit())
        && rest.bytes().all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/'))
}

/// The crate's part, run under `catch_unwind`.
fn read(number: &str, id: Option<Id>, given: Option<&'static str>) -> Result<ParsedPhone, String> {
    let parsed = phonenumber::parse(id, number).map_err(parse_reason)?;
    if !phonenumber::is_valid(&parsed) {
        return Err(invalid_reason(&parsed, given));
    }
    let region =
        parsed.country().id().and_then(|region| CountryCode::for_alpha2(region.as_ref()).ok()).map(|c| c.alpha2());
    Ok(ParsedPhone { e164: parsed.format().mode(Mode::E164).to_string(), country: region.or(given) })
}

fn parse_reason(error: ParseError) -> String {
    match error {
        ParseError::NoNumber | ParseError::MalformedInteger(_) => "is not a phone number",
        ParseError::InvalidCountryCode => "has an invalid country code",
        ParseError::TooShortAfterIdd => "is too short after the international prefix",
        ParseError::TooShortNsn => "is too short",
        ParseError::TooLong => "is too long",
    }
    .into()
}

/// The crate only says "not valid"; the length is the reason people can act
/// on, so it is worked out from the region's possible lengths (the union over
/// its kinds of number: fixed line, mobile, toll free...).
fn invalid_reason(number: &PhoneNumber, given: Option<&str>) -> String {
    let code = number.country().code();
    // An invalid number often matches no region of a shared calling code
    // (+61 is AU, CC and CX), so fall back to the country it was read in.
    let meta = number
        .metadata(&DATABASE)
        .or_else(|| given.and_then(|c| DATABASE.by_id(c)).filter(|m| m.country_code() == code))
        .or_else(|| DATABASE.by_code(&code).and_then(|m| m.into_iter().next()));
    let Some(meta) = meta else {
        return "has an invalid country code".into();
    };
    let place = match meta.id() {
        "001" => format!("+{code}"),
        id => id.to_owned(),
    };
    let d = meta.descriptors();
    let range = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .flatten()
    .flat_map(|desc| desc.possible_length().iter().map(|&l| usize::from(l)))
    .fold(None, |range: Option<(usize, usize)>, l| Some(range.map_or((l, l), |(lo, hi)| (lo.min(l), hi.max(l)))));
    let digits = number.national().to_string().len();
    match range {
        Some((min, _)) if digits < min => format!("is too short for {place}"),
        Some((_, max)) if digits > max => format!("is too long for {place}"),
        _ => format!("is not a valid number for {place}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(number: &str, country: Option<&str>) -> ParsedPhone {
        parse(number, country).unwrap_or_else(|e| panic!("{number:?} in {country:?}: {e}"))
    }

    fn err(number: &str, country: Option<&str>) -> String {
        match parse(number, country) {
            Ok(p) => panic!("{number:?} in {country:?} read as {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn countries_by_alpha2_or_numeric_id() {
        for (input, want) in [
            ("au", Some("AU")),
            ("AU", Some("AU")),
            (" nz\t", Some("NZ")),
            ("36", Some("AU")),
            ("036", Some("AU")),
            ("356", Some("IN")),
            ("826", Some("GB")),
            ("840", Some("US")),
            ("554", Some("NZ")),
            ("", None),
            ("A", None),
            ("AUS", None),
            ("ZZ", None),
            ("0036", None),
            ("000", None),
            ("999", None),
            ("+36", None),
            ("3 6", None),
            ("é", None),
        ] {
            assert_eq!(country(input), want, "{input:?}");
        }
    }

    #[test]
    fn australian_mobiles_and_landlines_local_and_international() {
        let mobile = ParsedPhone { e164: "+61412345678".into(), country: Some("AU") };
        assert_eq!(ok("0412 345 678", Some("AU")), mobile);
        assert_eq!(ok("+61 412 345 678", None), mobile);
        assert_eq!(ok("+61412345678", Some("au")), mobile);
        assert_eq!(ok("0400 000 000", Some("AU")).e164, "+61400000000");
        let landline = ParsedPhone { e164: "+61390000000".into(), country: Some("AU") };
        assert_eq!(ok("(03) 9000 0000", Some("AU")), landline);
        assert_eq!(ok("03-9000-0000", Some("036")), landline);
        assert_eq!(ok("+61 3 9000 0000", None), landline);
    }

    #[test]
    fn indian_mobile_by_alpha2_and_numeric_id() {
        let want = ParsedPhone { e164: "+919219133921".into(), country: Some("IN") };
        assert_eq!(ok("9219133921", Some("IN")), want);
        assert_eq!(ok("9219133921", Some("356")), want);
        assert_eq!(ok("09219133921", Some("in")), want);
        assert_eq!(ok("+91 92191 33921", None), want);
    }

    #[test]
    fn british_american_and_new_zealand_numbers() {
        assert_eq!(ok("07400 123456", Some("GB")), ParsedPhone { e164: "+447400123456".into(), country: Some("GB") });
        assert_eq!(ok("+44 121 234 5678", None), ParsedPhone { e164: "+441212345678".into(), country: Some("GB") });
        assert_eq!(ok("(201) 555-0123", Some("US")), ParsedPhone { e164: "+12015550123".into(), country: Some("US") });
        assert_eq!(ok("+1 520-878-2491", None), ParsedPhone { e164: "+15208782491".into(), country: Some("US") });
        assert_eq!(ok("03-331 6005", Some("NZ")), ParsedPhone { e164: "+6433316005".into(), country: Some("NZ") });
        assert_eq!(ok("021 123 4567", Some("554")).e164, "+64211234567");
    }

    #[test]
    fn an_international_number_keeps_its_own_region() {
        assert_eq!(ok("+64 3 331 6005", Some("AU")), ParsedPhone { e164: "+6433316005".into(), country: Some("NZ") });
        // AQ is an ISO country with no numbering plan: fine for a + number.
        assert_eq!(ok("+61 412 345 678", Some("AQ")).country, Some("AU"));
        assert_eq!(err("1234 5678", Some("AQ")), "cannot be read as a local number in AQ");
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(ok(" \t0412 345 678\n", Some("AU")).e164, "+61412345678");
    }

    #[test]
    fn too_short_too_long_and_wrong_for_the_country() {
        for (number, country) in [("04", Some("AU")), ("0412", Some("AU")), ("+61 41", None)] {
            let e = err(number, country);
            assert!(e.contains("too short"), "{number:?}: {e}");
        }
        for (number, country) in [("0412 345 678 901 234", Some("AU")), ("+61 412 345 678 901 234 567", None)] {
            let e = err(number, country);
            assert!(e.contains("too long"), "{number:?}: {e}");
        }
        assert_eq!(err("0412 345 678 901 234", Some("AU")), "is too long for AU");
        assert_eq!(err("0500 000 000", Some("AU")), "is not a valid number for AU");
        assert!(err("07400 123456", Some("AU")).contains("not a valid number"));
        assert!(err("(555) 555-5555", Some("US")).contains("not a valid number"));
        assert_eq!(err("+999 1234 5678", None), "has an invalid country code");
    }

    #[test]
    fn letters_symbols_and_control_characters_are_not_numbers() {
        for number in [
            "0412 ABC 678",
            "1800-FLOWERS",
            "call 0412345678",
            "tel:+61412345678",
            "+61412345678;ext=1",
            "0412345678 x12",
            "0412#345678",
            "0412+345678",
            "++61412345678",
            "0412\u{0}345678",
            "0412\u{7}345678",
            "0412\t345678",
            "0412\u{202e}345678",
            "٠٤١٢٣٤٥٦٧٨",
            "０４１２３４５６７８",
            "",
            "   ",
            "+",
            "()-./",
        ] {
            assert_eq!(err(number, Some("AU")), "is not a phone number", "{number:?}");
        }
    }

    #[test]
    fn the_cap_counts_characters_and_comes_first() {
        // The cap's message, not the crate's: the crate never saw the input.
        assert_eq!(err(&"4".repeat(10_000), Some("AU")), "must be at most 40 characters");
        assert_eq!(err(&"a".repeat(10_000), None), "must be at most 40 characters");
        let mut padded = format!("{:<40}", "0412 345 678");
        assert_eq!(padded.chars().count(), MAX_PHONE_INPUT);
        assert_eq!(ok(&padded, Some("AU")).e164, "+61412345678");
        padded.push(' ');
        assert_eq!(err(&padded, Some("AU")), "must be at most 40 characters");
        assert_eq!(err(&"é".repeat(40), Some("AU")), "is not a phone number");
        assert_eq!(err(&"é".repeat(41), Some("AU")), "must be at most 40 characters");
    }

    #[test]
    fn a_local_number_needs_a_known_country() {
        assert_eq!(err("0412 345 678", None), "needs a country to read a local number");
        assert_eq!(err("61 412 345 678", None), "needs a country to read a local number");
        for c in ["XX", "AUS", "", "9999", "a u"] {
            assert!(err("0412 345 678", Some(c)).contains("ISO 3166-1"), "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(number in ".{0,60}", country in proptest::option::of(".{0,6}")) {
            let _ = parse(&number, country.as_deref());
        }
    }

    proptest! {
        // Few cases: these reach the crate, whose regex cache recompiles in debug builds.
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn what_passes_the_guard_never_panics_and_is_e164(
            number in "\\+?[0-9 ().\\-/]{0,59}",
            country in proptest::option::of(prop_oneof![
                Just("AU"), Just("IN"), Just("GB"), Just("NZ"), Just("DE"), Just("356"), Just("AQ")
            ])
        ) {
            if let Ok(p) = parse(&number, country) {
                prop_assert!(p.e164.starts_with('+'), "{:?}", p);
                prop_assert!(p.e164.len() > 2 && p.e164[1..].bytes().all(|b| b.is_ascii_digit()), "{:?}", p);
            }
        }
    }
}
