package kvcache

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
)

// The cache file format, versions 1 and 2. All integers are little-endian.
//
//	magic    8 bytes  "THINKVKV"
//	version  uint32   1 for a cache of f16 or f32, 2 for q8_0 or q4_0
//	length   uint64   bytes of the payload
//	payload  length bytes
//	crc      uint32   CRC-32C (Castagnoli) of the payload
//
// The payload:
//
//	identity  uint32 length, then that many bytes (opaque, the caller's)
//	layers, kv heads, head dim   uint32 each
//	type      uint8   0 f16, 1 f32 (versions 1 and 2); 2 q8_0, 3 q4_0 (version 2)
//	capacity  uint64
//	next      uint64  Cache.Next
//	reserve   int64   the LimitReserve cap, < 0: none
//	then per head, layer-major:
//	  n, nk, nv, kt, vt   uint32: tokens, tokens with pruned keys, with pruned
//	                      values, kept key channels, kept value channels
//	                      (kt = 0: keys not pruned; likewise vt)
//	  flags     uint8     bit 0: attention scores are tracked
//	  KeyKept   kt × uint32, then ValKept vt × uint32
//	  Pos       n × int32
//	  Score     n × float32 bits, if tracked
//	  keys      nk × kt elements, then (n−nk) × dim
//	  values    nv × vt elements, then (n−nv) × dim
//
// Elements are uint16 (f16 bits) or float32 bits, as the type says. The file
// holds the rows, not the room a cache reserves for tokens to come (which is
// not data: restoring it would let a file make the reader allocate more than
// the file holds), so a read cache is allocated exactly: its Bytes equal its
// HeldBytes, which equal the written cache's HeldBytes, and it grows as tokens
// arrive like any other.
const (
	fileMagic   = "THINKVKV"
	headerBytes = 8 + 4 + 8
	// headFixed is the bytes of a head's record besides its lists and rows.
	headFixed = 5*4 + 1
	// payloadFixed is the bytes of the payload besides identity and heads.
	payloadFixed = 4 + 3*4 + 1 + 3*8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fileVersion returns the version a cache of type t is written as: 1 for
// f16 and f32, 2 for the blocked types.
func fileVersion(t DType) uint32 {
	if t == F16 || t == F32 {
		return 1
	}
	return 2
}

// WriteTo writes the cache to w in thinkv's cache file format (version 1 or
// 2, checksummed with CRC-32C) with an empty model identity, and returns the
// bytes written: io.WriterTo, for caches tied to no model (ReadCache(r, nil)
// reads them back). The engine writes with WriteCache and its model's
// identity. A fork is written whole: its shared prefix and its own rows alike.
func (c *Cache) WriteTo(w io.Writer) (int64, error) {
	return c.writeFile(w, nil)
}

// WriteCache writes c to w in thinkv's cache file format, recording identity,
// an opaque description of the model the cache belongs to (the engine passes
// a hash of the model's configuration and weights header) that ReadCache
// checks, and returns the bytes written.
func WriteCache(w io.Writer, c *Cache, identity []byte) (int64, error) {
	return c.writeFile(w, identity)
}

func (c *Cache) writeFile(w io.Writer, identity []byte) (int64, error) {
	if uint64(len(identity)) > math.MaxUint32 {
		return 0, fmt.Errorf("kvcache: model identity of %d bytes is too long", len(identity))
	}
	if uint64(c.cfg.Layers) > math.MaxUint32 || uint64(c.cfg.KVHeads) > math.MaxUint32 || uint64(c.cfg.HeadDim) > math.MaxUint32 {
		return 0, fmt.Errorf("kvcache: a cache of %+v does not fit the file format", c.cfg)
	}
	for i := range c.heads {
		if uint64(c.heads[i].Len()) > math.MaxUint32 {
			return 0, fmt.Errorf("kvcache: a head of %d tokens does not fit the file format", c.heads[i].Len())
		}
	}
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	var hdr []byte
	hdr = append(hdr, fileMagic...)
	hdr = binary.LittleEndian.AppendUint32(hdr, fileVersion(c.cfg.Type))
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(c.payloadBytes(len(identity))))
	bw.Write(hdr)
	crc := crc32.New(castagnoli)
	e := &encoder{w: io.MultiWriter(bw, crc)}
	cfg := c.cfg
	e.u32(uint64(len(identity)))
	e.write(identity)
	e.u32(uint64(cfg.Layers))
	e.u32(uint64(cfg.KVHeads))
	e.u32(uint64(cfg.HeadDim))
	e.write([]byte{byte(cfg.Type)})
	e.u64(uint64(cfg.Capacity))
	e.u64(uint64(c.next))
	e.u64(uint64(int64(c.reserve)))
	for i := range c.heads {
		h := &c.heads[i]
		var flags byte
		if h.Score != nil {
			flags = 1
		}
		for _, x := range []int{h.Len(), h.kp.n(), h.vp.n(), len(h.KeyKept), len(h.ValKept)} {
			e.u32(uint64(x))
		}
		e.write([]byte{flags})
		for _, x := range h.KeyKept {
			e.u32(uint64(x))
		}
		for _, x := range h.ValKept {
			e.u32(uint64(x))
		}
		for _, p := range h.Pos {
			e.u32(uint64(uint32(p)))
		}
		for _, s := range h.Score {
			e.u32(uint64(math.Float32bits(s)))
		}
		for _, r := range []*rows{&h.kp, &h.kf, &h.vp, &h.vf} {
			if r.shared != nil {
				e.rows(r.shared)
			}
			e.rows(r)
		}
	}
	if e.err == nil {
		e.err = binary.Write(bw, binary.LittleEndian, crc.Sum32())
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		return cw.n, fmt.Errorf("kvcache: writing cache: %w", e.err)
	}
	return cw.n, nil
}

// payloadBytes returns the length of the payload WriteTo writes.
func (c *Cache) payloadBytes(identity int) int64 {
	b := int64(payloadFixed + identity)
	for i := range c.heads {
		h := &c.heads[i]
		b += headFixed + 4*int64(len(h.KeyKept)+len(h.ValKept)+len(h.Pos)+len(h.Score))
		b += h.HeldBytes() // the rows' elements, shared prefix included
	}
	return b
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian values, keeping the first error.
type encoder struct {
	w   io.Writer
	err error
}

func (e *encoder) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u32(x uint64) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(x))
	e.write(b[:])
}

func (e *encoder) u64(x uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], x)
	e.write(b[:])
}

// rows writes the block's own rows (not its shared part).
func (e *encoder) rows(r *rows) { e.write(r.data) }

// ErrIdentity is wrapped by the error ReadCache returns for a file written
// with a different model identity.
var ErrIdentity = errors.New("kvcache: the cache file was written for a different model")

// ReadCache reads a cache that WriteTo or WriteCache wrote, refusing (with an
// error wrapping ErrIdentity) a file whose model identity is not identity. It
// reads exactly the file's bytes from r. A file that is not a cache file, of
// another version, truncated, or corrupt (its checksum fails, or what it says
// is inconsistent) is an error that says which; nothing is allocated beyond
// about twice the bytes r actually delivers.
func ReadCache(r io.Reader, identity []byte) (*Cache, error) {
	var hdr [headerBytes]byte
	switch n, err := io.ReadFull(r, hdr[:]); {
	case err == io.EOF:
		return nil, fmt.Errorf("kvcache: reading cache: empty file")
	case err == io.ErrUnexpectedEOF && strings.HasPrefix(fileMagic, string(hdr[:min(n, 8)])):
		return nil, fmt.Errorf("kvcache: truncated cache file: header has %d of %d bytes", n, headerBytes)
	case err != nil && err != io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("kvcache: reading cache: %w", err)
	}
	if string(hdr[:8]) != fileMagic {
		return nil, fmt.Errorf("kvcache: not a thinkv cache file (magic %q, want %q)", hdr[:8], fileMagic)
	}
	version := binary.LittleEndian.Uint32(hdr[8:])
	if version != 1 && version != 2 {
		return nil, fmt.Errorf("kvcache: cache file version %d, this reader knows versions 1 and 2", version)
	}
	length := binary.LittleEndian.Uint64(hdr[12:])
	if length > math.MaxInt64-1 {
		return nil, fmt.Errorf("kvcache: corrupt cache file: payload length %d", length)
	}
	// The payload is read as it arrives, so a wrong length costs no more than
	// the bytes that are really there.
	var payload bytes.Buffer
	if n, err := payload.ReadFrom(io.LimitReader(r, int64(length))); err != nil {
		return nil, fmt.Errorf("kvcache: reading cache: %w", err)
	} else if uint64(n) < length {
		return nil, fmt.Errorf("kvcache: truncated cache file: payload has %d of %d bytes", n, length)
	}
	var sum [4]byte
	if _, err := io.ReadFull(r, sum[:]); err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("kvcache: truncated cache file: checksum missing")
	} else if err != nil {
		return nil, fmt.Errorf("kvcache: reading cache: %w", err)
	}
	p := payload.Bytes()
	if got, want := crc32.Checksum(p, castagnoli), binary.LittleEndian.Uint32(sum[:]); got != want {
		return nil, fmt.Errorf("kvcache: corrupt cache file: checksum %08x, the file says %08x", got, want)
	}
	return decodePayload(p, identity, version)
}

// decoder reads little-endian values from a payload, failing on the first
// read past its end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("kvcache: corrupt cache file: "+format, args...)
	}
}

func (d *decoder) take(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("%s needs %d bytes, %d remain", what, n, len(d.b))
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u8(what string) byte {
	if p := d.take(1, what); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if p := d.take(4, what); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if p := d.take(8, what); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// fits reports whether count items of size bytes each remain, failing if not.
func (d *decoder) fits(count, size uint64, what string) bool {
	if d.err != nil {
		return false
	}
	if size != 0 && count > uint64(len(d.b))/size {
		d.fail("%s: %d of %d bytes each do not fit in the %d bytes that remain", what, count, size, len(d.b))
		return false
	}
	return true
}

// channels reads a kept-channel list of k entries, sorted, unique, < dim.
func (d *decoder) channels(k uint32, dim int, what string) []int {
	if k == 0 || !d.fits(uint64(k), 4, what) {
		return nil
	}
	out := make([]int, k)
	for j := range out {
		x := d.u32(what)
		if uint64(x) >= uint64(dim) || (j > 0 && int(x) <= out[j-1]) {
			d.fail("%s must be sorted, unique and below %d", what, dim)
			return nil
		}
		out[j] = int(x)
	}
	return out
}

// block reads count rows of width values into an exactly sized block.
func (d *decoder) block(typ DType, width int, count uint32, what string) rows {
	rb := typ.RowBytes(width)
	if !d.fits(uint64(count), uint64(rb), fmt.Sprintf("%s (%d rows of %d)", what, count, width)) {
		return newRows(typ, width, 0)
	}
	r := newRows(typ, width, int(count))
	r.data = append(r.data, d.take(uint64(count)*uint64(rb), what)...)
	return r
}

func decodePayload(p, identity []byte, version uint32) (*Cache, error) {
	d := &decoder{b: p}
	idLen := d.u32("identity length")
	id := d.take(uint64(idLen), "identity")
	if d.err != nil {
		return nil, d.err
	}
	if !bytes.Equal(id, identity) {
		return nil, fmt.Errorf("%w (its identity is %s, the model's is %s)", ErrIdentity, short(id), short(identity))
	}
	layers, kvHeads, dim := d.u32("layers"), d.u32("KV heads"), d.u32("head dimension")
	typ := d.u8("type")
	capacity, next, reserve := d.u64("capacity"), d.u64("next position"), int64(d.u64("reserve"))
	if d.err != nil {
		return nil, d.err
	}
	switch {
	case layers == 0 || kvHeads == 0 || dim == 0:
		return nil, fmt.Errorf("kvcache: corrupt cache file: %d layers, %d KV heads, head dimension %d", layers, kvHeads, dim)
	case !DType(typ).valid():
		return nil, fmt.Errorf("kvcache: corrupt cache file: unknown element type %d", typ)
	case fileVersion(DType(typ)) != version:
		return nil, fmt.Errorf("kvcache: corrupt cache file: a %v cache in a version %d file (it is written as version %d)", DType(typ), version, fileVersion(DType(typ)))
	case capacity == 0 || capacity > math.MaxInt:
		return nil, fmt.Errorf("kvcache: corrupt cache file: capacity %d", capacity)
	case next > math.MaxInt || reserve != int64(int(reserve)):
		return nil, fmt.Errorf("kvcache: corrupt cache file: next position %d, reserve %d", next, reserve)
	}
	// Every head's record takes at least headFixed bytes: bound the heads by
	// what remains before allocating them.
	if !d.fits(uint64(layers), headFixed, "layers (of at least one head)") || !d.fits(uint64(layers)*uint64(kvHeads), headFixed, "heads") {
		return nil, d.err
	}
	cfg := Config{Layers: int(layers), KVHeads: int(kvHeads), HeadDim: int(dim), Type: DType(typ), Capacity: int(capacity)}
	c := &Cache{cfg: cfg, heads: make([]Head, cfg.Layers*cfg.KVHeads), next: int(next), reserve: int(reserve)}
	for i := range c.heads {
		if err := d.head(c, i); err != nil {
			return nil, err
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("kvcache: corrupt cache file: %d bytes after the last head", len(d.b))
	}
	return c, nil
}

// head reads head i of c.
func (d *decoder) head(c *Cache, i int) error {
	cfg := c.cfg
	what := fmt.Sprintf("head %d (layer %d, KV head %d)", i, i/cfg.KVHeads, i%cfg.KVHeads)
	n, nk, nv, kt, vt := d.u32(what), d.u32(what), d.u32(what), d.u32(what), d.u32(what)
	flags := d.u8(what)
	if d.err != nil {
		return d.err
	}
	switch {
	case nk > n || nv > n:
		d.fail("%s has %d and %d pruned of %d tokens", what, nk, nv, n)
	case uint64(kt) > uint64(cfg.HeadDim) || uint64(vt) > uint64(cfg.HeadDim):
		d.fail("%s keeps %d and %d of %d channels", what, kt, vt, cfg.HeadDim)
	case (nk > 0 && kt == 0) || (nv > 0 && vt == 0):
		d.fail("%s has pruned tokens but no kept channels", what)
	case flags > 1:
		d.fail("%s has unknown flags %#x", what, flags)
	}
	h := Head{d: cfg.HeadDim, c: c}
	h.KeyKept = d.channels(kt, cfg.HeadDim, what+" kept key channels")
	h.ValKept = d.channels(vt, cfg.HeadDim, what+" kept value channels")
	if d.fits(uint64(n), 4, what+" positions") {
		h.Pos = make([]int32, n)
		for j := range h.Pos {
			h.Pos[j] = int32(d.u32(what))
		}
	}
	if flags&1 != 0 && d.fits(uint64(n), 4, what+" scores") {
		h.Score = make([]float32, n)
		for j := range h.Score {
			h.Score[j] = math.Float32frombits(d.u32(what))
		}
	}
	h.kp = d.block(cfg.Type, int(kt), nk, what+" pruned keys")
	h.kf = d.block(cfg.Type, cfg.HeadDim, n-nk, what+" keys")
	h.vp = d.block(cfg.Type, int(vt), nv, what+" pruned values")
	h.vf = d.block(cfg.Type, cfg.HeadDim, n-nv, what+" values")
	if d.err != nil {
		return d.err
	}
	c.heads[i] = h
	return nil
}

// short formats an identity for an error: hex, cut after 16 bytes.
func short(id []byte) string {
	if len(id) == 0 {
		return "empty"
	}
	if len(id) > 16 {
		return fmt.Sprintf("%x… (%d bytes)", id[:16], len(id))
	}
	return fmt.Sprintf("%x", id)
}

var _ io.WriterTo = (*Cache)(nil)
