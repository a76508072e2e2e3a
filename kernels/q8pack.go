package kernels

import (
	"runtime"
	"unsafe"
)

// Packed weights: the layout the tile kernels of the integer products read.
//
// A matrix's rows are taken eight at a time (a group; rows left over past
// the last whole group stay unpacked) and each group's blocks are
// interleaved so that one 32-byte load holds four consecutive weights of
// each of the eight rows: a VPDPBUSD (or VPMADDUBSW) of it with four
// activations broadcast adds them into eight lanes, one per row, and a
// group's outputs come out as one vector, with no horizontal sums and no
// gathering of scales. A group is a run of records, each one's heads
// (scales) just before its quants, so that a group is one stream from
// memory: a record is two blocks of 32 for Q8_0 and Q4_0 (the last one
// alone, its head padded, when a row has an odd number of blocks) and one
// super-block for the K-quants, and the quants stay 32-byte aligned. (All
// heads first, then all quants, streamed from memory on one thread at
// 13–20 GB/s where this layout does 21–26; and Q6_K's quants in the order
// its kernels read them, not ql then qh, streamed 15–20% faster on two
// threads.)
//
//	Q8_0, per block of 32: head: the 8 rows' f16 scales (16 bytes);
//	      quants: for k in 0..7, for row r: w[r][4k..4k+3] + 128 as bytes (256)
//	Q4_0, per block of 32: head: the 8 f16 scales (16);
//	      quants: for m in 0..3, for row r: the nibble bytes qs[r][4m..4m+3] (128),
//	      whose low nibbles are elements 4m.., high ones 16+4m..
//	Q4_K, per super-block: head: 8 f16 d, 8 f16 dmin, then the 6-bit
//	      scales sc[j][r] and minimums m[j][r] as bytes, j-major (160);
//	      quants: for c in 0..3, m in 0..7, row r: qs[r][32c+4m..+3] (1024),
//	      low nibbles of chunk c are sub-block 2c, high ones 2c+1
//	Q6_K, per super-block: head: 8 f16 d, then the int8 scales sc[i][r],
//	      i in 0..15, then 16 bytes of padding (160); quants: for each half
//	      h in 0..1 (elements 128h..128h+127), in the order the kernels read
//	      them: for m in 0..7, row r: qh[r][32h+4m..+3] (256), then ql chunks
//	      2h and 2h+1 laid out as Q4_K's qs chunks (512)
//
// Eight rows take the bytes of eight unpacked rows (Q4_K 32 more per
// super-block, for its decoded scales; Q6_K 16 more, padding; Q8_0 and
// Q4_0 16 more for a lone last block).

// packedMatrix is a matrix's packed copy.
type packedMatrix struct {
	data   []byte
	qoff   int // offset of a group's first quants
	group  int // bytes of a group
	groups int // Rows/8
}

// packFormat is a type's packed block: the bytes of its head and quant
// parts, the unpacked block it comes from, the function that packs one
// block of eight rows, and how many blocks a record holds (their heads
// before their quants).
type packFormat struct {
	elems, head, quant int // elements per block, bytes of its head and quants
	pack               func(head, quant []byte, rows *[8][]byte)
	perRecord          int
}

func packFormatFor(t DType) *packFormat {
	switch t {
	case Q8_0:
		return &packFormat{QK8_0, 16, 256, packQ8_0, 2}
	case Q4_0:
		return &packFormat{QK4_0, 16, 128, packQ4_0, 2}
	case Q4_K:
		return &packFormat{QK_K, 160, 1024, packQ4_K, 1}
	case Q6_K:
		return &packFormat{QK_K, 160, 1536, packQ6_K, 1} // 144 bytes of head, padded
	}
	return nil
}

// Pack copies m's weights into the packed layout of the integer products'
// tile kernels, where the CPU has them for its type, so that the first
// product need not; MulActs packs on first use otherwise. It returns the
// bytes of the copy (0 when there is nothing to pack). m.Data must not
// change afterwards: the products read the copy.
func (m *Matrix) Pack() int {
	if packedKernelsFor(m.Type) == nil {
		return 0
	}
	return len(m.pack().data)
}

// pack returns m's packed copy, making it on first use. Concurrent first
// uses may each pack; one copy wins.
func (m *Matrix) pack() *packedMatrix {
	if pk := m.packed.Load(); pk != nil {
		return pk
	}
	f := packFormatFor(m.Type)
	nb := m.Cols / f.elems
	// Where block b's head and quants start in a group: records of
	// perRecord blocks, heads first (a last record short of blocks keeps
	// the room of its missing heads, so that its quants stay aligned).
	n := f.perRecord
	rec := n * (f.head + f.quant)
	head := func(b int) int { return b/n*rec + b%n*f.head }
	quant := func(b int) int { return b/n*rec + n*f.head + b%n*f.quant }
	pk := &packedMatrix{qoff: quant(0), group: quant(nb-1) + f.quant, groups: m.Rows / 8}
	if n := pk.groups * pk.group; n >= 1<<20 {
		var release func()
		if pk.data, release = hugeBytes(n); release != nil {
			runtime.AddCleanup(pk, func(f func()) { f() }, release)
		}
	}
	if pk.data == nil {
		pk.data = alignedBytes(pk.groups * pk.group)
	}
	rb := m.Type.RowBytes(m.Cols)
	bb := rb / nb
	var rows [8][]byte
	for g := range pk.groups {
		grp := pk.data[g*pk.group : (g+1)*pk.group]
		for b := range nb {
			for r := range rows {
				row := m.Data[(8*g+r)*rb:]
				rows[r] = row[b*bb : (b+1)*bb]
			}
			f.pack(grp[head(b):head(b)+f.head], grp[quant(b):quant(b)+f.quant], &rows)
		}
	}
	if m.packed.CompareAndSwap(nil, pk) {
		return pk
	}
	return m.packed.Load()
}

// alignedBytes returns n zero bytes starting at a multiple of 64.
func alignedBytes(n int) []byte {
	b := make([]byte, n+64)
	off := int(-uintptrOf(b) & 63)
	return b[off : off+n : off+n]
}

// uintptrOf returns the address of b's first byte.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func packQ8_0(head, quant []byte, rows *[8][]byte) {
	for r, blk := range rows {
		copy(head[2*r:], blk[:2])
		for k := range 8 {
			for i := range 4 {
				quant[32*k+4*r+i] = blk[2+4*k+i] ^ 0x80
			}
		}
	}
}

func packQ4_0(head, quant []byte, rows *[8][]byte) {
	for r, blk := range rows {
		copy(head[2*r:], blk[:2])
		for m := range 4 {
			copy(quant[32*m+4*r:32*m+4*r+4], blk[2+4*m:])
		}
	}
}

func packQ4_K(head, quant []byte, rows *[8][]byte) {
	for r, blk := range rows {
		copy(head[2*r:], blk[0:2])
		copy(head[16+2*r:], blk[2:4])
		for j := range 8 {
			head[32+8*j+r], head[96+8*j+r] = scaleMinK4(j, blk[4:16])
		}
		for c := range 4 {
			for m := range 8 {
				copy(quant[256*c+32*m+4*r:256*c+32*m+4*r+4], blk[16+32*c+4*m:])
			}
		}
	}
}

func packQ6_K(head, quant []byte, rows *[8][]byte) {
	for r, blk := range rows {
		copy(head[2*r:], blk[208:210])
		for i := range 16 {
			head[16+8*i+r] = blk[192+i]
		}
		for h := range 2 {
			half := quant[768*h:]
			for m := range 8 {
				copy(half[32*m+4*r:32*m+4*r+4], blk[128+32*h+4*m:])
				for i := range 2 {
					c := 2*h + i
					copy(half[256+256*i+32*m+4*r:256+256*i+32*m+4*r+4], blk[32*c+4*m:])
				}
			}
		}
	}
}

// packedTile is a tile kernel for packed weights: out[t*ostride+r] (in
// float32 elements) for the 8 rows r of the group whose head is at wh and
// quants at wq, and its tokens t, whose quants are at a (astride bytes
// apart) and block records at am (amstride bytes apart), over nb blocks of
// 32.
type packedTile func(wh, wq *byte, a *int8, astride uintptr, am *actBlock, amstride uintptr, nb int, out *float32, ostride uintptr)

// packedKernels is a tier's pair of tile kernels for a packed type: eight
// rows by one token and eight rows by mainT tokens.
type packedKernels struct {
	one, main packedTile
	mainT     int
}

// product computes the whole groups among rows [lo, hi) of the product of
// m and a (lo a multiple of 8) and returns the first row it did not.
func (pk *packedMatrix) product(m *Matrix, out []float32, a *Acts, lo, hi int) int {
	k := packedKernelsFor(m.Type)
	if k == nil {
		return lo
	}
	n, rows, nb := a.N, m.Rows, m.Cols/QK8
	ab, mb, ob := uintptr(m.Cols), uintptr(nb)*unsafe.Sizeof(actBlock{}), uintptr(4*rows)
	g0, g1 := lo/8, min(hi/8, pk.groups)
	// Groups in panels that stay in the cache while every token passes.
	panel := max(1, (128<<10)/pk.group)
	for p0 := g0; p0 < g1; p0 += panel {
		p1 := min(p0+panel, g1)
		t := 0
		for ; t+k.mainT <= n; t += k.mainT {
			for g := p0; g < p1; g++ {
				grp := pk.data[g*pk.group:]
				k.main(&grp[0], &grp[pk.qoff], &a.q[t*m.Cols], ab, &a.m[t*nb], mb, nb, &out[t*rows+8*g], ob)
			}
		}
		for ; t < n; t++ {
			for g := p0; g < p1; g++ {
				grp := pk.data[g*pk.group:]
				k.one(&grp[0], &grp[pk.qoff], &a.q[t*m.Cols], ab, &a.m[t*nb], mb, nb, &out[t*rows+8*g], ob)
			}
		}
	}
	runtime.KeepAlive(pk) // its cleanup unmaps the data the kernels read
	return max(lo, 8*g1)
}
