//! `sipannotate generate wireshark-lua`: a Wireshark Lua post-dissector built
//! from the same knowledge base. For every SIP response in a frame it adds a
//! `sipannotate` subtree (code, class, severity, meaning, when, fix, the
//! decoded Reason cause) with filterable fields (`sipannotate.class == 4`,
//! `sipannotate.severity == "error"`). The tables are data written out from
//! `patterns/kb` in the chosen language; the code is a fixed template.

use std::fmt::Write as _;

use crate::catalog::kb::{KnowledgeBase, Severity};

/// A Lua string literal: quotes, backslashes and control bytes escaped.
fn lua_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\{:03}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

const TEMPLATE: &str = r#"
local p = Proto("sipannotate", "sipannotate: SIP response explained")
local f = {
  code = ProtoField.uint16("sipannotate.code", "Code"),
  class = ProtoField.uint8("sipannotate.class", "Class"),
  class_name = ProtoField.string("sipannotate.class_name", "Class name"),
  registered = ProtoField.bool("sipannotate.registered", "Registered at IANA"),
  reason = ProtoField.string("sipannotate.canonical_reason", "Canonical reason"),
  severity = ProtoField.string("sipannotate.severity", "Severity"),
  rfc = ProtoField.string("sipannotate.rfc", "RFC"),
  meaning = ProtoField.string("sipannotate.meaning", "Meaning"),
  when = ProtoField.string("sipannotate.when", "When you see it"),
  fix = ProtoField.string("sipannotate.fix", "How to fix"),
  cause = ProtoField.uint16("sipannotate.reason.cause", "Reason Q.850 cause"),
  cause_name = ProtoField.string("sipannotate.reason.cause_name", "Reason cause name"),
  cause_sip = ProtoField.uint16("sipannotate.reason.sip_equivalent", "SIP status for the cause (RFC 3398)"),
}
p.fields = { f.code, f.class, f.class_name, f.registered, f.reason, f.severity, f.rfc,
             f.meaning, f.when, f.fix, f.cause, f.cause_name, f.cause_sip }

local status_code = Field.new("sip.Status-Code")
local q850 = Field.new("sip.reason_cause_q850")

function p.dissector(tvb, pinfo, tree)
  local codes = { status_code() }
  if #codes == 0 then return end
  local causes = { q850() }
  for i, c in ipairs(codes) do
    local code = c.value
    local e = CODES[code]
    local cls = CLASSES[math.floor(code / 100)]
    if cls ~= nil then
      local st = tree:add(p, "sipannotate: " .. code .. " " .. ((e and e[1]) or cls[1]))
      st:add(f.code, code)
      st:add(f.class, math.floor(code / 100))
      st:add(f.class_name, cls[1])
      st:add(f.registered, e ~= nil)
      if e then
        st:add(f.reason, e[1])
        st:add(f.severity, e[2])
        st:add(f.rfc, e[3])
        st:add(f.meaning, e[4])
        st:add(f.when, e[5])
        st:add(f.fix, e[6])
      else
        st:add(f.severity, cls[2])
        st:add(f.meaning, cls[3])
        st:add(f.when, cls[4])
        st:add(f.fix, cls[5])
      end
      local q = causes[i]
      if q ~= nil then
        local k = CAUSES[q.value]
        st:add(f.cause, q.value)
        if k then
          st:add(f.cause_name, k[1])
          if k[2] then st:add(f.cause_sip, k[2]) end
        end
      end
    end
  end
end

register_postdissector(p)
"#;

/// The whole Lua script.
pub fn lua(kb: &KnowledgeBase, lang: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "-- sipannotate {} Wireshark post-dissector, generated from its knowledge base (language: {lang}).\n\
         -- Use: wireshark -X lua_script:sipannotate.lua, or copy it to ~/.local/lib/wireshark/plugins/.\n\
         -- Filter: sipannotate.class == 4, sipannotate.severity == \"error\", sipannotate.meaning contains \"codec\".",
        env!("CARGO_PKG_VERSION")
    );
    s.push_str("-- code = { reason, severity, rfc, meaning, when, fix }\nCODES = {\n");
    for e in kb.registered() {
        let _ = writeln!(
            s,
            "  [{}] = {{ {}, {}, {}, {}, {}, {} }},",
            e.code,
            lua_str(&e.reason),
            lua_str(kb.lookup(e.code).severity().as_str()),
            lua_str(&e.rfc),
            lua_str(&e.texts.meaning),
            lua_str(&e.texts.when),
            lua_str(&e.texts.fix)
        );
    }
    s.push_str("}\n-- class = { name, severity, meaning, when, fix } for unregistered codes\nCLASSES = {\n");
    for class in 1..=6u8 {
        let c = kb.class(class);
        let _ = writeln!(
            s,
            "  [{class}] = {{ {}, {}, {}, {}, {} }},",
            lua_str(&c.name),
            lua_str(Severity::of_class(class).as_str()),
            lua_str(&c.texts.meaning),
            lua_str(&c.texts.when),
            lua_str(&c.texts.fix)
        );
    }
    s.push_str("}\n-- Q.850 cause = { name, SIP status (RFC 3398) }\nCAUSES = {\n");
    for c in kb.causes() {
        let sip = c.sip.map_or("nil".to_string(), |n| n.to_string());
        let _ = writeln!(s, "  [{}] = {{ {}, {sip} }},", c.cause, lua_str(&c.name));
    }
    s.push_str("}\n");
    s.push_str(TEMPLATE);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lua_strings_cannot_escape_their_quotes() {
        assert_eq!(lua_str("a\"b\\c\nd"), "\"a\\\"b\\\\c\\010d\"");
        let kb = crate::catalog::Catalog::builtin("ja").unwrap().kb;
        let script = lua(&kb, "ja");
        assert!(script.contains("[486] = {"));
        assert!(script.contains("register_postdissector(p)"));
    }
}
