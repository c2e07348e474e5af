//! The knowledge base against the registry: every IANA code, both languages
//! complete, Q.850 names and mappings, notes that depend on context.

use sipannotate::catalog::kb::NoteContext;
use sipannotate::catalog::{language_keys, languages, Catalog};

use crate::support::*;

#[test]
fn every_iana_code_is_registered_with_reason_class_rfc_and_texts() {
    let tsv = std::fs::read_to_string(repo().join("tests/data/codes.tsv")).unwrap();
    let mut n = 0;
    for lang in ["en", "ja"] {
        let cat = Catalog::builtin(lang).unwrap();
        n = 0;
        for row in tsv.lines().skip(1) {
            let cols: Vec<&str> = row.split('\t').collect();
            let code: u16 = cols[0].parse().unwrap();
            let l = cat.kb.lookup(code);
            let e = l.entry.unwrap_or_else(|| panic!("{code} not registered"));
            assert_eq!(e.reason, cols[1], "{code}");
            assert_eq!(code / 100, cols[2].parse::<u16>().unwrap());
            assert_eq!(e.rfc.replace(' ', ""), cols[4], "{code}");
            for t in [&e.texts.meaning, &e.texts.when, &e.texts.fix] {
                assert!(t.len() > 30, "{lang} {code}: text too thin: {t:?}");
            }
            n += 1;
        }
    }
    assert_eq!(n, 75);
}

#[test]
fn every_language_has_every_key_and_no_empty_text() {
    let langs = languages();
    assert!(langs.contains(&"en".to_string()) && langs.contains(&"ja".to_string()));
    let (en, _) = language_keys("en").unwrap();
    for lang in &langs {
        let (keys, empty) = language_keys(lang).unwrap();
        let missing: Vec<_> = en.iter().filter(|k| !keys.contains(k)).collect();
        let extra: Vec<_> = keys.iter().filter(|k| !en.contains(k)).collect();
        assert!(missing.is_empty(), "{lang} lacks {missing:?}");
        assert!(extra.is_empty(), "{lang} has keys en lacks: {extra:?}");
        assert!(empty.is_empty(), "{lang} has empty texts: {empty:?}");
    }
}

#[test]
fn japanese_texts_are_japanese() {
    let ja = Catalog::builtin("ja").unwrap();
    let t = &ja.kb.lookup(486).entry.unwrap().texts.meaning;
    assert!(
        t.chars()
            .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)
                || ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{t}"
    );
    assert!(Catalog::builtin("fr")
        .unwrap_err()
        .to_string()
        .contains("available: en, ja"));
}

#[test]
fn q850_causes_have_names_and_rfc3398_mappings() {
    let tsv = std::fs::read_to_string(repo().join("tests/data/q850.tsv")).unwrap();
    let kb = &catalog().kb;
    let mut n = 0;
    for row in tsv.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let cause: u16 = cols[0].parse().unwrap();
        let c = kb.cause(cause).unwrap_or_else(|| panic!("cause {cause}"));
        assert_eq!(c.name, cols[1]);
        assert_eq!(
            c.sip,
            cols.get(2).and_then(|s| s.parse().ok()),
            "cause {cause}"
        );
        n += 1;
    }
    assert_eq!(n, 71);
    assert_eq!(kb.cause(17).unwrap().sip, Some(486));
}

#[test]
fn notes_follow_method_and_headers() {
    let kb = &catalog().kb;
    let ctx = |m: &'static str| NoteContext {
        method: Some(m),
        ..Default::default()
    };
    assert_eq!(
        kb.note(401, &ctx("REGISTER")).unwrap().id,
        "challenge_register"
    );
    assert_eq!(kb.note(407, &ctx("INVITE")).unwrap().id, "challenge_invite");
    assert_eq!(kb.note(481, &ctx("BYE")).unwrap().id, "nxdialog_bye");
    assert_eq!(
        kb.note(487, &ctx("INVITE")).unwrap().id,
        "terminated_invite"
    );
    assert_eq!(
        kb.note(408, &ctx("OPTIONS")).unwrap().id,
        "timeout_non_invite"
    );
    assert!(kb.note(408, &ctx("INVITE")).is_none());
    assert_eq!(kb.note(491, &NoteContext::default()).unwrap().id, "glare");
    let ra = NoteContext {
        has_retry_after: Some(true),
        ..Default::default()
    };
    assert_eq!(kb.note(503, &ra).unwrap().id, "unavailable_retry_after");
    let sdp = NoteContext {
        has_sdp: Some(true),
        ..Default::default()
    };
    assert_eq!(kb.note(183, &sdp).unwrap().id, "early_media_sdp");
    let nosdp = NoteContext {
        has_sdp: Some(false),
        ..Default::default()
    };
    assert_eq!(kb.note(183, &nosdp).unwrap().id, "progress_no_sdp");
    assert_eq!(
        kb.note(603, &NoteContext::default()).unwrap().id,
        "global_stops_forking"
    );
}

#[test]
fn events_pick_notes_from_their_dump() {
    let evs = events(
        b"SIP/2.0 503 Service Unavailable\nCSeq: 1 INVITE\nRetry-After: 60\nContent-Length: 0\n\n",
        false,
        64,
    );
    assert_eq!(evs[0].retry_after, Some(Some(60)));
    let evs = events(b"SIP/2.0 183 Session Progress\nCSeq: 1 INVITE\nContent-Type: application/sdp\nContent-Length: 5\n\nv=0\n\n", false, 64);
    assert_eq!(evs[0].has_sdp, Some(true));
}

#[test]
fn every_format_sample_gives_its_expected_events() {
    let failures = sipannotate::selfcheck::check_samples(catalog(), matcher());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let samples: usize = catalog().formats.iter().map(|f| f.samples.len()).sum();
    assert!(samples >= 60);
}

#[test]
fn override_directory_adds_formats_and_bad_files_name_file_and_key() {
    let dir = std::env::temp_dir().join(format!("sipannotate-patterns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("acme.toml"),
        r#"id = "acme.sbc"
description = "ACME SBC reply summary"
system = "ACME"
role = "event"
literals = ["ACME-REPLY"]
regex = '''ACME-REPLY status=(?P<code>\d{3}) callid=(?P<call_id>\S+)'''
[[sample]]
text = "ACME-REPLY status=486 callid=x1\n"
code = 486
call_id = "x1"
"#,
    )
    .unwrap();
    let cat = Catalog::load("en", Some(&dir)).unwrap();
    let m = sipannotate::matcher::Matcher::new(&cat).unwrap();
    let evs =
        sipannotate::selfcheck::events_of(&cat, &m, b"noise\nACME-REPLY status=486 callid=x1\n");
    assert_eq!(evs.len(), 1);
    assert_eq!(cat.formats[evs[0].format].id, "acme.sbc");
    assert!(sipannotate::selfcheck::check_samples(&cat, &m).is_empty());

    std::fs::write(dir.join("broken.toml"), "id = \"b\"\ndescription = \"\"\nsystem = \"\"\nrole = \"event\"\nliterals = [\"xx\"]\nregex = '''(?P<cod>\\d+)'''\n").unwrap();
    let err = Catalog::load("en", Some(&dir)).unwrap_err().to_string();
    assert!(
        err.contains("broken.toml") && err.contains("regex"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
