# pack.sh: knowledge packs with the real binary (docs/fleet.md).
# A KB of 30,000 WordNet facts and the elements documents (hash fallback):
# keygen (keys never overwritten), build, verify, install into a new
# directory and over a KB that has other data (FIND answers from the pack,
# kb check ok); refused, with the installed KB untouched: 40 packs with a
# changed byte (spread over the file), a truncated pack, another key,
# another embedder (--model), bad arguments. Then kill -9 at 12 points
# during installs over a KB: afterwards the KB is the old one or the new
# one (facts count), it checks, and no .new directory is left after the
# next install. Prints the pack's bytes and the build / verify / install
# seconds.
. "$(dirname "$0")/_lib.sh"
set -u
B=$EDGEKB
W=$SHARED/eval-dev/wordnet
[ -r "$W/facts.tsv" ] || { echo "skip: no $W"; exit 77; }
cd "$TMPDIR" || exit 1
head -n 30000 "$W/facts.tsv" >facts.tsv
elements_kb "$TMPDIR/src" elements_docs.jsonl
expect_rc 0 "$B" -q ingest --kb src "$W/predicates.jsonl" facts.tsv
expect_rc 0 "$B" pack keygen k.key p.pub
[ "$(stat -c %a k.key)" = 600 ] || { echo "FAIL: the private key is not 0600"; exit 1; }
expect_rc 1 "$B" pack keygen k.key p3.pub
expect_out 'exists: keys are never overwritten'
expect_rc 0 "$B" pack keygen k2.key p2.pub
expect_rc 0 "$B" -q pack build --kb src --key k.key kb.ekp
build=$OUT
expect_rc 0 "$B" -q pack verify --pub p.pub kb.ekp
verify=$OUT
expect_rc 0 "$B" -q pack install --kb dev --pub p.pub kb.ekp
install=$OUT
expect_rc 0 "$B" -q kb check --kb dev
expect_out 'integrity ok'
expect_rc 0 "$B" -q find --kb dev beagle "is a kind of" ?
expect_out 'hound'
nfacts() { "$B" -q kb stats --kb "$1" | grep -o '[0-9]* facts'; }
nnew=$(nfacts src)
[ "$(nfacts dev)" = "$nnew" ] || { echo "FAIL: installed $(nfacts dev), built from $nnew"; exit 1; }
# over a KB with other data: swapped
elements_kb "$TMPDIR/other" elements_facts.tsv
expect_rc 0 "$B" -q pack install --kb other --pub p.pub kb.ekp
[ "$(nfacts other)" = "$nnew" ] || { echo "FAIL: install over a KB: $(nfacts other)"; exit 1; }
[ ! -e other.new ] || { echo "FAIL: other.new left"; exit 1; }
# refused, the installed KB untouched
size=$(stat -c %s kb.ekp)
i=0
while [ $i -lt 40 ]; do
  at=$(( (size - 1) * i / 39 ))
  cp kb.ekp bad.ekp
  printf '\377' | dd of=bad.ekp bs=1 seek=$at conv=notrunc 2>/dev/null
  cmp -s kb.ekp bad.ekp && printf '\000' | dd of=bad.ekp bs=1 seek=$at conv=notrunc 2>/dev/null
  expect_rc 1 "$B" -q pack install --kb dev --pub p.pub bad.ekp
  i=$((i + 1))
done
head -c $((size / 2)) kb.ekp >half.ekp
expect_rc 1 "$B" -q pack verify --pub p.pub half.ekp
expect_out 'no signature at its end'
expect_rc 1 "$B" -q pack install --kb dev --pub p2.pub kb.ekp
expect_out 'does not verify with p2.pub'
if [ -r "$MODELS_DIR/use-lite-q8_0.gguf" ]; then
  expect_rc 1 "$B" -q pack install --kb dev --pub p.pub --model "$MODELS_DIR/use-lite-q8_0.gguf" kb.ekp
  expect_out 'was built for embedder hash-fallback'
fi
expect_rc 2 "$B" -q pack build --kb src kb2.ekp
expect_rc 2 "$B" -q pack frobnicate
expect_rc 1 "$B" -q pack verify --pub kb.ekp kb.ekp
[ "$(nfacts dev)" = "$nnew" ] || { echo "FAIL: a refused pack changed the KB"; exit 1; }
expect_rc 0 "$B" -q kb check --kb dev
# kill -9 during installs over a KB holding other data: old or new, never a mix
elements_kb "$TMPDIR/tgt" elements_facts.tsv
old=$(nfacts tgt)
k=0; kills=0
while [ $k -lt 12 ]; do
  "$B" -q pack install --kb tgt --pub p.pub kb.ekp >/dev/null 2>&1 &
  P=$!
  sleep "0.0$k"
  kill -9 $P 2>/dev/null && kills=$((kills + 1))
  wait $P 2>/dev/null
  now=$(nfacts tgt)
  [ "$now" = "$old" ] || [ "$now" = "$nnew" ] || { echo "FAIL: kill $k: the KB holds $now (old $old, new $nnew)"; exit 1; }
  expect_rc 0 "$B" -q kb check --kb tgt
  expect_out 'integrity ok'
  if [ "$now" = "$nnew" ]; then # installed: put the old data back for the next kill
    rm -rf tgt tgt.new; elements_kb "$TMPDIR/tgt" elements_facts.tsv
  fi
  k=$((k + 1))
done
expect_rc 0 "$B" -q pack install --kb tgt --pub p.pub kb.ekp
[ ! -e tgt.new ] || { echo "FAIL: tgt.new left after a whole install"; exit 1; }
echo "ok: $build; $verify; $install; 40 changed bytes, a truncation, another key, another embedder refused; $kills kill -9 during installs: old or new each time"
