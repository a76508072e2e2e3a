package kernels

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// DType is the storage type of a weight matrix.
type DType int

// Weight storage types.
const (
	F32 DType = iota
	F16
	Q8_0
	Q4_0
	BF16
	Q4_1 // formats of kquant.go
	Q5_0
	Q5_1
	Q2_K
	Q3_K
	Q4_K
	Q5_K
	Q6_K
)

func (t DType) String() string {
	switch t {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case Q8_0:
		return "q8_0"
	case Q4_0:
		return "q4_0"
	case BF16:
		return "bf16"
	case Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K:
		return extName(t)
	}
	return fmt.Sprintf("dtype(%d)", int(t))
}

// RowBytes returns the bytes one row of cols elements takes in type t.
func (t DType) RowBytes(cols int) int {
	switch t {
	case F32:
		return 4 * cols
	case F16:
		return 2 * cols
	case Q8_0:
		return cols / QK8_0 * BlockBytesQ8_0
	case Q4_0:
		return cols / QK4_0 * BlockBytesQ4_0
	case BF16:
		return 2 * cols
	case Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K:
		return extRowBytes(t, cols)
	}
	return 0
}

// Matrix is a row-major [Rows × Cols] weight matrix whose rows are stored in Type.
// Data usually points into a memory-mapped model file. The integer products
// (MulActs) read a packed copy of it, made once (Pack); a Matrix must not be
// copied, nor Data changed, after its first product.
type Matrix struct {
	Type       DType
	Rows, Cols int
	Data       []byte
	packed     atomic.Pointer[packedMatrix] // nil until Pack
}

// NewMatrix checks that data holds rows × cols elements of type t and wraps it.
func NewMatrix(t DType, rows, cols int, data []byte) (*Matrix, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("kernels: bad matrix shape %d×%d", rows, cols)
	}
	if (t == Q8_0 || t == Q4_0) && cols%32 != 0 {
		return nil, fmt.Errorf("kernels: %v matrix needs a row length that is a multiple of 32, got %d", t, cols)
	}
	if qk := extBlock(t); qk > 0 && cols%qk != 0 {
		return nil, fmt.Errorf("kernels: %v matrix needs a row length that is a multiple of %d, got %d", t, qk, cols)
	}
	if want := rows * t.RowBytes(cols); len(data) != want {
		return nil, fmt.Errorf("kernels: %v matrix %d×%d needs %d bytes, got %d", t, rows, cols, want, len(data))
	}
	return &Matrix{Type: t, Rows: rows, Cols: cols, Data: data}, nil
}

// F32Matrix wraps a float32 slice as an F32 matrix without copying.
func F32Matrix(rows, cols int, w []float32) *Matrix {
	return &Matrix{Type: F32, Rows: rows, Cols: cols, Data: F32Bytes(w)}
}

// F32Bytes views a float32 slice as bytes (little-endian machines).
func F32Bytes(w []float32) []byte {
	if len(w) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*len(w))
}

// BytesF32 views bytes as float32s; len(b) must be a multiple of 4 and b 4-byte aligned.
func BytesF32(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// BytesU16 views bytes as uint16s; len(b) must be even and b 2-byte aligned.
func BytesU16(b []byte) []uint16 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}

func (m *Matrix) row(r int) []byte {
	rb := m.Type.RowBytes(m.Cols)
	return m.Data[r*rb : (r+1)*rb]
}

// RowDot returns row r of m dotted with x.
func (m *Matrix) RowDot(r int, x []float32) float32 {
	switch m.Type {
	case F32:
		return Dot(BytesF32(m.row(r)), x)
	case F16:
		return DotF16(BytesU16(m.row(r)), x)
	case Q8_0:
		return DotQ8_0(m.row(r), x)
	case Q4_0:
		return DotQ4_0(m.row(r), x)
	case BF16:
		return DotBF16(BytesU16(m.row(r)), x)
	case Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K:
		return extDot(m.Type, m.row(r), x)
	}
	panic("kernels: unknown matrix type")
}

// Row writes row r of m, converted to float32, into dst[:m.Cols].
func (m *Matrix) Row(dst []float32, r int) {
	dst = dst[:m.Cols]
	switch m.Type {
	case F32:
		copy(dst, BytesF32(m.row(r)))
	case F16:
		F16sToF32s(dst, BytesU16(m.row(r)))
	case Q8_0:
		DequantizeQ8_0(dst, m.row(r))
	case Q4_0:
		DequantizeQ4_0(dst, m.row(r))
	case BF16:
		BF16sToF32s(dst, BytesU16(m.row(r)))
	case Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K:
		extDequantize(m.Type, dst, m.row(r))
	}
}

// MulVec sets out[r] = m[r]·x for every row, in parallel on p (nil: serially).
func (m *Matrix) MulVec(p *Pool, out, x []float32) {
	m.MulBatch(p, out, x, 1)
}

// MulBatch multiplies n input vectors, x[i*Cols:(i+1)*Cols], by m:
// out[i*Rows+r] = m[r]·x[i]. Each weight row is read once for all n inputs.
// Rows are split over p's workers (nil: serially).
func (m *Matrix) MulBatch(p *Pool, out, x []float32, n int) {
	t := mulTasks.Get().(*mulTask)
	*t = mulTask{m: m, out: out[:n*m.Rows], x: x[:n*m.Cols], n: n}
	p.Run(m.Rows, max(1, 32768/(m.Cols*n)), t)
	*t = mulTask{}
	mulTasks.Put(t)
}

// mulTask is one MulBatch call as a pool Task; they are recycled so that
// products do not allocate.
type mulTask struct {
	m      *Matrix
	out, x []float32
	n      int
}

var mulTasks = sync.Pool{New: func() any { return new(mulTask) }}

func (t *mulTask) Run(_, lo, hi int) {
	m, rows, cols := t.m, t.m.Rows, t.m.Cols
	for r := lo; r < hi; r++ {
		for i := 0; i < t.n; i++ {
			t.out[i*rows+r] = m.RowDot(r, t.x[i*cols:(i+1)*cols])
		}
	}
}
