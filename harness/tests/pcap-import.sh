#!/bin/bash
# pcap-import.sh MXLAB SOURCE_DIR OUT — "mxlab import" on a hand-made
# capture (tests/pcap/make-reordered.py, standard library only): segments
# out of order, retransmitted and overlapping, sequence numbers wrapping
# past 2^32, STARTTLS, a connection begun before the capture, a lost
# segment. The script makes the committed reordered.pcap again, byte for
# byte; its import is reordered.import, also when framed as Linux cooked
# or raw IP; --server keeps only the sessions
# to that server; a file that is no capture, one cut short, or one
# without a session to import is said.
set -u
mxlab=$1 src=$2 dir=$3 me=pcap-import.sh
. "$(dirname "$0")/lib.sh"
data=$src/harness/tests/pcap
rm -rf "$dir"
mkdir -p "$dir"
python3 "$data/make-reordered.py" "$dir/reordered.pcap" || fail "make-reordered.py"
cmp "$dir/reordered.pcap" "$data/reordered.pcap" ||
    fail "make-reordered.py no longer makes reordered.pcap"

cd "$dir" || fail "cd $dir"
mxrun 0 import reordered.pcap -o reordered.import
diff -u "$data/reordered.import" reordered.import || fail "import differs from reordered.import"
# The same packets as tcpdump -i any (Linux cooked) and raw IP frame them.
for link in sll raw; do
    python3 "$data/make-reordered.py" "reordered-$link.pcap" "$link" || fail "make-reordered.py $link"
    mxrun 0 import -o "reordered-$link.import" "reordered-$link.pcap"
    diff -u <(sed 1,8d "$data/reordered.import") <(sed 1,8d "reordered-$link.import") ||
        fail "$link: the import differs"
done
mxrun 0 import --server 127.0.0.1:25 reordered.pcap
[ "$(grep -c '^\[session' <<<"$out")" -eq 3 ] || fail "--server: 3 sessions expected"
grep -q ':587' <<<"$out" && fail "--server: the session to port 587 is there"

printf 'not a capture\n' >bad.pcap
mxrun 1 import bad.pcap
grep -q '^mxlab import: bad.pcap: not a capture file' <<<"$out" || fail "bad.pcap: no clear error"
head -c 1000 reordered.pcap >cut.pcap
mxrun 1 import -o cut.import cut.pcap
grep -q 'cut.pcap: .*(what came before is imported)' <<<"$out" || fail "cut.pcap: not said"
grep -q '^\[session from 127.3.3.3\]' cut.import || fail "cut.pcap: what came before is not there"
mxrun 1 import --server 127.9.9.9:25 -o none.import reordered.pcap
grep -q 'reordered.pcap: no SMTP session to import' <<<"$out" || fail "no session: not said"
[ -e none.import ] && fail "no session: none.import written"
mxrun 2 import --server nowhere reordered.pcap
mxrun 2 import
echo "$me: ok"
