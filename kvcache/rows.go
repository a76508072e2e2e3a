package kvcache

import "slices"

// rows is a growable block of fixed-width vectors, stored as bytes by its
// type's codec: row i is data[i·rb:(i+1)·rb]. Its capacity is set when it is
// made and changes only through growTo and reserve (Head grows it as tokens
// arrive).
//
// After Cache.Fork the block is in two parts: shared, a frozen block holding
// the first sn rows, which other caches may reference too and which is never
// written again, and the block's own rows after them, to which tokens are
// appended. Every method below sees the two parts as one block of n() rows;
// those that would write to a row of the shared part (removeRow) first copy
// it into an owned block (copy-on-write). Without a fork, shared is nil, sn
// is 0 and the block is its own rows alone.
type rows struct {
	typ    DType
	c      codec // typ's
	width  int
	rb     int    // bytes per row: c.rowBytes(width)
	data   []byte // own rows
	shared *rows  // frozen prefix (nil: none); itself has no shared part
	sn     int    // rows in shared
}

func newRows(typ DType, width, capRows int) rows {
	c := typ.codec()
	rb := c.rowBytes(width)
	return rows{typ: typ, c: c, width: width, rb: rb, data: make([]byte, 0, rb*capRows)}
}

// empty returns a block like r (type and width) holding no rows.
func (r *rows) empty() rows {
	return rows{typ: r.typ, c: r.c, width: r.width, rb: r.rb}
}

// n returns the number of stored vectors.
func (r *rows) n() int {
	if r.rb == 0 {
		return 0
	}
	return r.sn + len(r.data)/r.rb
}

// at returns the block holding row i (the shared part or r itself) and the
// row's index there.
func (r *rows) at(i int) (*rows, int) {
	if i < r.sn {
		return r.shared, i
	}
	return r, i - r.sn
}

// row returns the bytes of row i.
func (r *rows) row(i int) []byte {
	b, j := r.at(i)
	return b.data[j*r.rb : (j+1)*r.rb]
}

// bytes returns the bytes allocated for the block: the shared part's and
// the block's own.
func (r *rows) bytes() int64 {
	return r.sharedBytes() + r.ownBytes()
}

// ownBytes returns the bytes allocated for the block's own rows.
func (r *rows) ownBytes() int64 { return int64(cap(r.data)) }

// sharedBytes returns the bytes of the shared part (0 without one).
func (r *rows) sharedBytes() int64 {
	if r.shared == nil {
		return 0
	}
	return r.shared.ownBytes()
}

// capRows returns how many rows fit without reallocating.
func (r *rows) capRows() int {
	if r.rb == 0 {
		return 0
	}
	return r.sn + cap(r.data)/r.rb
}

// growTo reallocates the block's own rows so that it holds exactly capRows
// rows in all (shared part included), keeping its contents; it does nothing
// if it already holds that many.
func (r *rows) growTo(capRows int) {
	if want := (capRows - r.sn) * r.rb; cap(r.data) < want {
		r.data = append(make([]byte, 0, want), r.data...)
	}
}

// heldBytes returns the bytes of the stored rows (not of spare capacity).
func (r *rows) heldBytes() int64 {
	return int64(r.n()) * int64(r.rb)
}

// add extends the own rows by one row and returns its bytes, reallocating
// (by append's rule) only if there is no room.
func (r *rows) add() []byte {
	n := len(r.data)
	r.data = slices.Grow(r.data, r.rb)[:n+r.rb]
	return r.data[n:]
}

// push appends x[:width], encoded in the storage type.
func (r *rows) push(x []float32) {
	r.c.encode(r.add(), x[:r.width])
}

// read writes row i, as float32, into dst[:width].
func (r *rows) read(dst []float32, i int) {
	r.c.decode(dst[:r.width], r.row(i))
}

// gather returns a new block holding rows idx (in that order) restricted to
// channels cols (all channels when cols is nil), with room for extra more rows.
func (r *rows) gather(idx, cols []int, extra int) rows {
	width := r.width
	if cols != nil {
		width = len(cols)
	}
	out := newRows(r.typ, width, len(idx)+extra)
	if cols == nil {
		for _, i := range idx {
			out.data = append(out.data, r.row(i)...)
		}
		return out
	}
	buf := make([]float32, r.width+width)
	for _, i := range idx {
		out.pushCols(buf, r.row(i), cols)
	}
	return out
}

// pushCols appends the row stored in src (a row of a block of the same type,
// len(buf) − r.width wide) restricted to channels cols (r.width of them),
// decoding and re-encoding it in buf.
func (r *rows) pushCols(buf []float32, src []byte, cols []int) {
	full, picked := buf[:len(buf)-r.width], buf[len(buf)-r.width:]
	r.c.decode(full, src)
	for j, c := range cols {
		picked[j] = full[c]
	}
	r.push(picked)
}

// removeRow deletes row i, shifting later rows down. A row of the shared
// part is never deleted in place: the block is first unshared.
func (r *rows) removeRow(i int) {
	if i < r.sn {
		r.unshare()
	}
	i -= r.sn
	r.data = append(r.data[:i*r.rb], r.data[(i+1)*r.rb:]...)
}

// reserve makes room for extra more rows without reallocating later,
// reallocating now (exactly) if needed.
func (r *rows) reserve(extra int) { r.growTo(r.n() + extra) }

// unshare copies the shared part and the block's own rows into one owned
// block of the same capacity in rows (copy-on-write), dropping the
// reference to the shared part.
func (r *rows) unshare() {
	if r.shared == nil {
		return
	}
	s := r.shared
	r.data = append(append(make([]byte, 0, len(s.data)+cap(r.data)), s.data...), r.data...)
	r.shared, r.sn = nil, 0
}

// freeze makes every row stored so far part of the shared, frozen prefix and
// leaves the block's own part empty, for Cache.Fork. Own rows become the
// frozen block without a copy when their allocation is full; otherwise (room
// reserved for tokens to come, which forks would hold forever) or when there
// already is a shared part (it stays one block: see Cache.Fork), the frozen
// block is a copy holding exactly the rows. With no own rows it changes
// nothing: the own part keeps its spare room, which stays this block's alone.
func (r *rows) freeze() {
	if len(r.data) == 0 {
		return
	}
	fz := new(rows)
	if r.shared == nil && cap(r.data) == len(r.data) {
		*fz = r.empty()
		fz.data = r.data
	} else {
		*fz = r.flat(0)
	}
	*r = r.empty()
	r.shared, r.sn = fz, fz.n()
}

// flat returns an owned copy of the block without a shared part, holding its
// n() rows with room for spare more.
func (r *rows) flat(spare int) rows {
	out := newRows(r.typ, r.width, r.n()+spare)
	if s := r.shared; s != nil {
		out.data = append(out.data, s.data...)
	}
	out.data = append(out.data, r.data...)
	return out
}

// fork returns a block sharing r's shared part (call freeze first) with no
// own rows.
func (r *rows) fork() rows {
	f := r.empty()
	f.shared, f.sn = r.shared, r.sn
	return f
}
