package kvcache_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

var testID = []byte("model: needle v1, sha256 0123abcd")

// fileBytes is the closed form of the size of a cache file: a 20-byte header,
// the payload (41 bytes of identity length, configuration and counters, the
// identity, per head 21 bytes of counts and flags, 4 per kept channel,
// position and score, and the rows' elements) and a 4-byte checksum.
func fileBytes(c *kvcache.Cache, id []byte) int64 {
	cfg := c.Config()
	b := int64(20 + 41 + len(id) + 4)
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			h := c.Head(l, g)
			b += 21 + 4*int64(len(h.KeyKept)+len(h.ValKept)+len(h.Pos)+len(h.Score)) + h.HeldBytes()
		}
	}
	return b
}

// persisted returns caches that exercise every part of the format: f16 and
// f32; keys pruned, values pruned, both, neither; tokens evicted; scores
// tracked; a reserve limit; a fork holding a shared prefix and a tail.
func persisted(t *testing.T) map[string]*kvcache.Cache {
	out := map[string]*kvcache.Cache{}
	for _, typ := range allTypes {
		rng := rand.New(rand.NewPCG(11, uint64(typ)))
		cfg := kvcache.Config{Layers: 2, KVHeads: 2, HeadDim: 16, Type: typ, Capacity: 700}
		out[typ.String()+" full"] = newFilled(t, cfg, rng, 90)
		c := newFilled(t, cfg, rng, 200)
		operate(t, c, 3, 1)
		operate(t, c, 4, 2)
		operate(t, c, 1, 3)
		operate(t, c, 6, 4)
		c.LimitReserve(17)
		out[typ.String()+" pruned"] = c
		f := c.Fork()
		extend(t, f, rng, 30, false)
		out[typ.String()+" fork"] = f
		k := newFilled(t, cfg, rng, 100)
		operate(t, k, 3, 5)
		operate(t, k, 2, 6)
		out[typ.String()+" keys kept"] = k
	}
	return out
}

// TestWriteReadRoundTrip writes caches and reads them back: the same rows,
// positions, scores, kept channels, next position and reserve, bit-identical
// attention, the same HeldBytes, Bytes equal to HeldBytes (a read cache is
// allocated exactly: equal to the original's Bytes when that one was), a
// file of the closed-form size, and after the same tokens are appended to
// both, attention still bit-identical.
func TestWriteReadRoundTrip(t *testing.T) {
	for name, c := range persisted(t) {
		var buf bytes.Buffer
		n, err := kvcache.WriteCache(&buf, c, testID)
		if err != nil {
			t.Fatal(err)
		}
		if want := fileBytes(c, testID); n != want || int64(buf.Len()) != want {
			t.Fatalf("%s: wrote %d bytes (returned %d), want %d", name, buf.Len(), n, want)
		}
		r := bytes.NewReader(buf.Bytes())
		d, err := kvcache.ReadCache(r, testID)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Len() != 0 {
			t.Fatalf("%s: %d bytes left unread", name, r.Len())
		}
		if !slices.Equal(fingerprint(d), fingerprint(c)) || !slices.Equal(attention(d, 1), attention(c, 1)) {
			t.Fatalf("%s: read cache differs from the written one", name)
		}
		if d.HeldBytes() != c.HeldBytes() || d.Bytes() != d.HeldBytes() || d.SharedBytes() != 0 {
			t.Fatalf("%s: read HeldBytes %d Bytes %d shared %d, written HeldBytes %d", name, d.HeldBytes(), d.Bytes(), d.SharedBytes(), c.HeldBytes())
		}
		if c.Bytes() == c.HeldBytes() && d.Bytes() != c.Bytes() {
			t.Fatalf("%s: exactly allocated cache of %d bytes read back as %d", name, c.Bytes(), d.Bytes())
		}
		seed := uint64(len(name))
		extend(t, c, rand.New(rand.NewPCG(seed, 0)), 20, false)
		extend(t, d, rand.New(rand.NewPCG(seed, 0)), 20, false)
		if !slices.Equal(fingerprint(d), fingerprint(c)) || !slices.Equal(attention(d, 2), attention(c, 2)) {
			t.Fatalf("%s: after 20 more tokens the read cache attends differently", name)
		}
	}
	// WriteTo writes the empty identity; files follow one another in a stream.
	var buf bytes.Buffer
	a, b := persisted(t)["f16 fork"], persisted(t)["f32 full"]
	na, _ := a.WriteTo(&buf)
	nb, _ := kvcache.WriteCache(&buf, b, testID)
	if na != fileBytes(a, nil) || nb != fileBytes(b, testID) {
		t.Fatalf("wrote %d and %d bytes, want %d and %d", na, nb, fileBytes(a, nil), fileBytes(b, testID))
	}
	ra, err := kvcache.ReadCache(&buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := kvcache.ReadCache(&buf, testID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fingerprint(ra), fingerprint(a)) || !slices.Equal(fingerprint(rb), fingerprint(b)) || buf.Len() != 0 {
		t.Fatal("two files in one stream do not read back as written")
	}
}

// TestReadCacheIdentity: a file read with another model identity, or none,
// is refused with an error that says so.
func TestReadCacheIdentity(t *testing.T) {
	var buf bytes.Buffer
	if _, err := kvcache.WriteCache(&buf, persisted(t)["f16 pruned"], testID); err != nil {
		t.Fatal(err)
	}
	for _, id := range [][]byte{nil, []byte("model: needle v2"), append(slices.Clone(testID), 0)} {
		_, err := kvcache.ReadCache(bytes.NewReader(buf.Bytes()), id)
		if !errors.Is(err, kvcache.ErrIdentity) || !strings.Contains(err.Error(), "different model") {
			t.Fatalf("identity %q: error %v, want one wrapping ErrIdentity", id, err)
		}
	}
}

// small returns a small cache file: one layer, one head of dimension 4, f16,
// five tokens, keys pruned (3 tokens, 2 channels), scores tracked.
func small(t testing.TB) []byte {
	c, err := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 4, Type: kvcache.F16, Capacity: 8})
	if err != nil {
		t.Fatal(err)
	}
	h := c.Head(0, 0)
	for p := range 5 {
		h.Append(p, []float32{1, float32(p), -2, 0.5}, []float32{float32(p), 3, 0.25, -1})
	}
	c.Advance(5)
	if err := h.PruneKeys([]int{1, 3}, 2, 1); err != nil {
		t.Fatal(err)
	}
	h.Score = []float32{0.5, 1, 2, 3, 4}
	var buf bytes.Buffer
	if _, err := kvcache.WriteCache(&buf, c, []byte("id")); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReadCacheCorrupt flips every bit of every byte of a small file, one
// at a time, and cuts it at every length: each is an error (never a panic),
// naming the problem.
func TestReadCacheCorrupt(t *testing.T) {
	file := small(t)
	if _, err := kvcache.ReadCache(bytes.NewReader(file), []byte("id")); err != nil {
		t.Fatal(err)
	}
	for i := range file {
		for bit := range 8 {
			bad := slices.Clone(file)
			bad[i] ^= 1 << bit
			c, err := kvcache.ReadCache(bytes.NewReader(bad), []byte("id"))
			if err == nil || c != nil {
				t.Fatalf("byte %d bit %d flipped: no error", i, bit)
			}
			var want string
			switch {
			case i < 8:
				want = "not a thinkv cache file"
			case i < 12:
				want = "version"
			case i < 20:
				want = "cache file" // a wrong length: truncated, or the checksum fails
			default:
				want = "checksum"
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("byte %d bit %d flipped: error %q does not say %q", i, bit, err, want)
			}
		}
	}
	for n := range len(file) {
		_, err := kvcache.ReadCache(bytes.NewReader(file[:n]), []byte("id"))
		if err == nil || !strings.Contains(err.Error(), map[bool]string{true: "empty", false: "truncated"}[n == 0]) {
			t.Fatalf("cut to %d of %d bytes: error %v", n, len(file), err)
		}
	}
	t.Logf("%d-byte file: %d one-bit corruptions and %d truncations refused", len(file), 8*len(file), len(file))
}

// seal wraps a payload in a header and a valid checksum, so that what the
// payload says is checked by the decoder itself.
func seal(payload []byte) []byte {
	out := append([]byte("THINKVKV"), 1, 0, 0, 0)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(payload)))
	out = append(out, payload...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
}

// TestReadCacheInconsistent feeds payloads with valid checksums that say
// impossible things — billions of heads or rows in a few bytes, unsorted or
// out-of-range channels, more pruned tokens than tokens, unknown type or
// flags, trailing bytes — and checks that each is an error and that none
// makes the reader allocate more than a few kilobytes; a header claiming an
// exabyte payload reads only what is there.
func TestReadCacheInconsistent(t *testing.T) {
	file := small(t)
	payload := file[20 : len(file)-4]
	// Offsets in the small file's payload: identity "id" (4+2), layers 6,
	// heads 10, dim 14, type 18, capacity 19, next 27, reserve 35; the head
	// at 43: n, nk, nv, kt, vt, flags 63, KeyKept 64.
	set32 := func(off int, v uint32) []byte {
		p := slices.Clone(payload)
		binary.LittleEndian.PutUint32(p[off:], v)
		return p
	}
	cases := map[string][]byte{
		"billions of heads":   func() []byte { p := set32(6, 1<<31); binary.LittleEndian.PutUint32(p[10:], 1<<31); return p }(),
		"many heads":          set32(10, 1000),
		"zero layers":         set32(6, 0),
		"huge head dimension": set32(14, 1<<31),
		"billions of tokens":  set32(43, 1<<31),
		"pruned past tokens":  set32(47, 6),
		"channels past dim":   set32(64, 9),
		"unsorted channels":   set32(64, 3),
		"kept past dim":       set32(55, 5),
		"trailing bytes":      append(slices.Clone(payload), 0),
		"short payload":       payload[:len(payload)-1],
	}
	p := slices.Clone(payload)
	p[18] = 7
	cases["unknown type"] = p
	p = slices.Clone(payload)
	p[63] = 2
	cases["unknown flags"] = p
	for name, pl := range cases {
		var err error
		allocated := allocs(func() { _, err = kvcache.ReadCache(bytes.NewReader(seal(pl)), []byte("id")) })
		if err == nil || !strings.Contains(err.Error(), "corrupt cache file") {
			t.Fatalf("%s: error %v", name, err)
		}
		t.Logf("%s: %v (%d bytes allocated)", name, err, allocated)
		if allocated > 16<<10 {
			t.Fatalf("%s: the reader allocated %d bytes", name, allocated)
		}
	}
	huge := slices.Clone(file)
	binary.LittleEndian.PutUint64(huge[12:], 1<<60)
	var err error
	if a := allocs(func() { _, err = kvcache.ReadCache(bytes.NewReader(huge), []byte("id")) }); err == nil ||
		!strings.Contains(err.Error(), "truncated") || a > 16<<10 {
		t.Fatalf("payload length 2^60: error %v, %d bytes allocated", err, a)
	}
}

// allocs returns the bytes f allocates.
func allocs(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// FuzzReadCache reads arbitrary bytes as a cache file, and as a payload
// sealed with a valid header and checksum (so that the decoder behind the
// checksum is fuzzed too). Neither may panic; whatever reads without error
// must write back to exactly the bytes read, and be usable: every row
// readable and attention computable.
func FuzzReadCache(f *testing.F) {
	id := []byte("id")
	file := small(f)
	f.Add(file)
	f.Add(file[20 : len(file)-4])
	for _, typ := range allTypes {
		c, _ := kvcache.New(kvcache.Config{Layers: 2, KVHeads: 1, HeadDim: 3, Type: typ, Capacity: 10})
		for p := range 4 {
			appendAll(c, rand.New(rand.NewPCG(uint64(p), 0)), p)
		}
		c.Advance(4)
		c.Head(1, 0).PruneValues([]int{0, 2}, 1, 0)
		var buf bytes.Buffer
		kvcache.WriteCache(&buf, c, id)
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[20 : buf.Len()-4])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, seal(data)} {
			r := bytes.NewReader(in)
			c, err := kvcache.ReadCache(r, id)
			if err != nil {
				if c != nil {
					t.Fatal("a cache with an error")
				}
				continue
			}
			var out bytes.Buffer
			if _, err := kvcache.WriteCache(&out, c, id); err != nil {
				t.Fatal(err)
			}
			if read := in[:len(in)-r.Len()]; !bytes.Equal(out.Bytes(), read) {
				t.Fatalf("read %d bytes, wrote back %d different ones", len(read), out.Len())
			}
			if cfg := c.Config(); cfg.HeadDim <= 256 {
				fingerprint(c)
				attention(c, 0)
			}
		}
	})
}
