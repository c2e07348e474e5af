//! Synthetic, realistic SIP-server logs for benchmarks and tests: mostly noise
//! (Asterisk, Kamailio and FreeSWITCH chatter, with the traps real logs have:
//! Via and CSeq lines, HTTP replies, request dumps), about 7% status lines,
//! full SIP dumps among them. Deterministic for a seed; no dependencies.

use std::io::{self, Write};

/// A small deterministic PRNG (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for a seed (0 is replaced by a constant).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// One item of a slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const CODES: &[(u16, &str)] = &[
    (100, "Trying"),
    (180, "Ringing"),
    (183, "Session Progress"),
    (200, "OK"),
    (200, "OK"),
    (200, "OK"),
    (401, "Unauthorized"),
    (407, "Proxy Authentication Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (408, "Request Timeout"),
    (480, "Temporarily Unavailable"),
    (486, "Busy Here"),
    (487, "Request Terminated"),
    (488, "Not Acceptable Here"),
    (503, "Service Unavailable"),
    (603, "Decline"),
    (478, "Unresolvable destination (478/SL)"),
];
const METHODS: &[&str] = &[
    "INVITE", "INVITE", "INVITE", "REGISTER", "OPTIONS", "BYE", "CANCEL",
];

/// What was generated.
#[derive(Debug, Default, Clone, Copy)]
pub struct GenStats {
    pub bytes: u64,
    pub lines: u64,
    pub status_lines: u64,
}

/// Writes about `target_bytes` of log to `out`.
pub fn generate<W: Write>(out: &mut W, target_bytes: u64, seed: u64) -> io::Result<GenStats> {
    let mut rng = Rng::new(seed);
    let mut stats = GenStats::default();
    let mut buf = String::with_capacity(4096);
    let mut second = 0u64;
    while stats.bytes < target_bytes {
        buf.clear();
        second += rng.below(2);
        let ts = format!(
            "[Nov {:>2} {:02}:{:02}:{:02}]",
            1 + second / 86_400 % 28,
            second / 3600 % 24,
            second / 60 % 60,
            second % 60
        );
        let call = format!(
            "{:016x}@10.{}.{}.{}",
            rng.next_u64(),
            rng.below(256),
            rng.below(256),
            rng.below(256)
        );
        let (code, reason) = *rng.pick(CODES);
        let method = *rng.pick(METHODS);
        let roll = rng.below(1000);
        let (lines, status) = if roll < 22 {
            // Asterisk PJSIP logger: a response dump.
            buf.push_str(&format!(
                "{ts} VERBOSE[{tid}] res_pjsip_logger.c: <--- Received SIP response ({len} bytes) from UDP:203.0.113.{h}:5060 --->\n\
                 SIP/2.0 {code} {reason}\n\
                 Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;received=192.0.2.10;branch=z9hG4bKPj{b:x}\n\
                 From: <sip:100@pbx.example.net>;tag={t1:x}\n\
                 To: <sip:200@pbx.example.net>;tag={t2:x}\n\
                 Call-ID: {call}\n\
                 CSeq: {cseq} {method}\n\
                 Server: Example SBC 4.2\n\
                 Content-Length: 0\n\n",
                tid = 30000 + rng.below(5000),
                len = 300 + rng.below(400),
                h = rng.below(255),
                b = rng.next_u64(),
                t1 = rng.next_u64() >> 32,
                t2 = rng.next_u64() >> 32,
                cseq = 1 + rng.below(30000),
            ));
            (10, 1)
        } else if roll < 34 {
            // A request dump: its Via and CSeq lines are traps.
            buf.push_str(&format!(
                "{ts} VERBOSE[{tid}] res_pjsip_logger.c: <--- Transmitting SIP request ({len} bytes) to UDP:203.0.113.{h}:5060 --->\n\
                 {method} sip:200@203.0.113.{h}:5060 SIP/2.0\n\
                 Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKPj{b:x}\n\
                 From: <sip:100@pbx.example.net>;tag={t1:x}\n\
                 To: <sip:200@pbx.example.net>\n\
                 Call-ID: {call}\n\
                 CSeq: {code} {method}\n\
                 Max-Forwards: 70\n\
                 User-Agent: Asterisk PBX 20.5.0\n\
                 Content-Length:  0\n\n",
                tid = 30000 + rng.below(5000),
                len = 400 + rng.below(400),
                h = rng.below(255),
                b = rng.next_u64(),
                t1 = rng.next_u64() >> 32,
            ));
            (11, 0)
        } else if roll < 64 {
            buf.push_str(&format!(
                "Nov {:>2} {:02}:{:02}:{:02} proxy1 kamailio[{}]: NOTICE: acc [acc.c:286]: acc_log_request(): ACC: transaction answered: timestamp={};method={method};from_tag={:x};to_tag={:x};call_id={call};code={code};reason={reason};src_ip=198.51.100.{};src_port=5060\n",
                1 + second / 86_400 % 28, second / 3600 % 24, second / 60 % 60, second % 60,
                1000 + rng.below(60000), 1_700_000_000 + second, rng.next_u64() >> 20, rng.next_u64() >> 20, rng.below(255)
            ));
            (1, 1)
        } else if roll < 80 {
            buf.push_str(&format!(
                "    -- Got SIP response {code} \"{reason}\" back from 203.0.113.{}:5060\n",
                rng.below(255)
            ));
            (1, 1)
        } else if roll < 92 {
            buf.push_str(&format!(
                "2024-07-02 11:56:{:02}.{:06} 98.83% [DEBUG] sofia.c:7493 Channel sofia/external/{}@198.51.100.7 entering state [early][{code}]\n",
                second % 60, rng.below(1_000_000), 100 + rng.below(900)
            ));
            (1, 1)
        } else {
            // Noise, with traps.
            match rng.below(12) {
                0 => buf.push_str(&format!("{ts} VERBOSE[{}][C-{:08x}] pbx.c:     -- Executing [{}@from-internal:1] Dial(\"PJSIP/100-{:08x}\", \"PJSIP/200,30,tT\") in new stack\n", 20000 + rng.below(9000), rng.below(1 << 20), 100 + rng.below(900), rng.below(1 << 24))),
                1 => buf.push_str(&format!("{ts} DEBUG[{}] res_rtp_asterisk.c: Sent RTP packet to 198.51.100.{}:{} (type {:02}, seq {:06}, ts {:06}, len {:06})\n", 20000 + rng.below(9000), rng.below(255), 10000 + rng.below(50000), rng.below(128), rng.below(65536), rng.next_u64() % 1_000_000, 160)),
                2 => buf.push_str(&format!(" 7({}) DEBUG: <core> [core/parser/msg_parser.c:{}]: parse_headers(): flags={:x}\n", 1000 + rng.below(60000), 100 + rng.below(700), rng.next_u64() >> 40)),
                3 => buf.push_str(&format!("Nov  6 10:23:55 proxy1 kamailio[{}]: INFO: {{1 1 REGISTER {call}}} <script>: SIP request REGISTER received from 95.90.235.{}:33534 via tcp\n", 1000 + rng.below(60000), rng.below(255))),
                4 => buf.push_str(&format!("2022-02-02 17:58:55.{:06} [DEBUG] switch_core_state_machine.c:{} (sofia/internal/1000@10.0.0.{}) State Change CS_EXECUTE -> CS_HANGUP\n", rng.below(1_000_000), 100 + rng.below(900), rng.below(255))),
                5 => buf.push_str(&format!("{ts} NOTICE[{}] chan_sip.c: Registration from '<sip:{}@pbx.example.net>' failed for '198.51.100.{}:5060' - Wrong password\n", 1000 + rng.below(9000), 100 + rng.below(900), rng.below(255))),
                6 => buf.push_str(&format!(" 7({}) DEBUG: <core> [core/tcp_main.c:2795]: tcpconn_do_send(): buf= HTTP/1.1 404 Not Found Sia: SIP/2.0/TCP 127.0.0.1:{}\n", 1000 + rng.below(60000), 50000 + rng.below(9999))),
                7 => buf.push_str(&format!("{ts} VERBOSE[{}] res_pjsip/pjsip_configuration.c: Contact 100/sip:100@198.51.100.{}:5060 is now Reachable.  RTT: {:.3} msec\n", 20000 + rng.below(9000), rng.below(255), rng.below(100_000) as f64 / 1000.0)),
                8 => buf.push_str(&format!("2022-02-02 17:58:55.{:06} [NOTICE] switch_channel.c:3908 Hangup sofia/internal/1000@10.0.0.{} [CS_EXECUTE] [NORMAL_CLEARING]\n", rng.below(1_000_000), rng.below(255))),
                9 => buf.push_str(&format!("{ts} WARNING[{}] res_pjsip_outbound_registration.c: No response received from 'sip:trunk.example.net:5060' on registration attempt to 'sip:{}@trunk.example.net:5060', retrying in '60'\n", 20000 + rng.below(9000), rng.below(1_000_000))),
                10 => buf.push_str(&format!(" 7({}) DEBUG: tm [t_lookup.c:1043]: t_check_msg(): msg (0x7f330aed{:04x}) id={}/{} global id={}/{} T start=0xffffffffffffffff\n", 1000 + rng.below(60000), rng.below(65536), rng.below(999), rng.below(9999), rng.below(999), rng.below(9999))),
                _ => buf.push_str(&format!("{ts} VERBOSE[{}][C-{:08x}] app_dial.c:   == Everyone is busy/congested at this time (1:0/{}/0)\n", 20000 + rng.below(9000), rng.below(1 << 20), rng.below(3))),
            }
            (1, 0)
        };
        out.write_all(buf.as_bytes())?;
        stats.bytes += buf.len() as u64;
        stats.lines += lines;
        stats.status_lines += status;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_log() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let sa = generate(&mut a, 50_000, 7).unwrap();
        generate(&mut b, 50_000, 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(sa.lines as usize, a.iter().filter(|c| **c == b'\n').count());
        let share = sa.status_lines as f64 / sa.lines as f64;
        assert!((0.03..0.15).contains(&share), "status share {share}");
    }
}
