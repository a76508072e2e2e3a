package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
)

// llama2.c's fixed special ids.
const (
	llama2cUNK = 0
	llama2cBOS = 1
	llama2cEOS = 2
)

// LoadLlama2C reads a llama2.c tokenizer.bin file with vocabSize tokens; see
// ParseLlama2C.
func LoadLlama2C(path string, vocabSize int) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := ParseLlama2C(data, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return t, nil
}

// ParseLlama2C parses a llama2.c tokenizer.bin: a little-endian int32
// max_token_length, then per token a float32 score, an int32 byte length and
// the piece's bytes. Exactly vocabSize tokens must be present, with nothing
// after them; vocabSize <= 0 means "as many as the data holds". The longest
// piece must be exactly max_token_length bytes, as llama2.c's exporter
// writes it: this catches a file cut between two tokens when vocabSize is 0.
//
// llama2.c writes spaces as ' ' and the BOS/EOS pieces as "\n<s>\n" and
// "\n</s>\n"; they are converted to "▁", "<s>" and "</s>". UNK, BOS and EOS
// are ids 0, 1 and 2, types are inferred (see Vocab.Types), and
// AddSpacePrefix and AddBOS are set. A malformed or truncated file gives an
// error.
func ParseLlama2C(data []byte, vocabSize int) (*Tokenizer, error) {
	if len(data) < 4 {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer of %d bytes has no header", len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen < 0 {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer has negative max_token_length %d", maxLen)
	}
	var pieces []string
	var scores []float32
	if vocabSize > 0 {
		// Every token takes at least 8 bytes; don't trust a huge vocabSize.
		if vocabSize > (len(data)-4)/8 {
			return nil, fmt.Errorf("tokenizer: llama2.c tokenizer of %d bytes cannot hold %d tokens", len(data), vocabSize)
		}
		pieces = make([]string, 0, vocabSize)
		scores = make([]float32, 0, vocabSize)
	}
	off, longest := 4, int32(0)
	for i := 0; vocabSize <= 0 && off < len(data) || i < vocabSize; i++ {
		if len(data)-off < 8 {
			return nil, fmt.Errorf("tokenizer: llama2.c tokenizer truncated in token %d at offset %d", i, off)
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int32(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		if math.IsNaN(float64(score)) {
			return nil, fmt.Errorf("tokenizer: llama2.c token %d has a NaN score", i)
		}
		if n < 0 || int64(n) > int64(len(data)-off) {
			return nil, fmt.Errorf("tokenizer: llama2.c token %d has length %d with %d bytes left", i, n, len(data)-off)
		}
		if n > maxLen {
			return nil, fmt.Errorf("tokenizer: llama2.c token %d is %d bytes, longer than the header's max_token_length %d", i, n, maxLen)
		}
		longest = max(longest, n)
		p := string(data[off : off+int(n)])
		off += int(n)
		switch {
		case i == llama2cBOS && p == "\n<s>\n":
			p = "<s>"
		case i == llama2cEOS && p == "\n</s>\n":
			p = "</s>"
		default:
			p = strings.ReplaceAll(p, " ", spaceSymbol)
		}
		pieces = append(pieces, p)
		scores = append(scores, score)
	}
	if off != len(data) {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer has %d bytes after %d tokens", len(data)-off, len(pieces))
	}
	// llama2.c's exporter writes the length of the longest token; a file cut
	// between two tokens (which no other field reveals without the model's
	// vocabulary size) has usually lost it.
	if longest != maxLen {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer is truncated or corrupt: its longest token (of %d) is %d bytes, its header says %d",
			len(pieces), longest, maxLen)
	}
	v := Vocab{Pieces: pieces, Scores: scores, BOS: -1, EOS: -1, UNK: -1, AddSpacePrefix: true, AddBOS: true}
	if len(pieces) > llama2cUNK {
		v.UNK = llama2cUNK
	}
	if len(pieces) > llama2cBOS {
		v.BOS = llama2cBOS
	}
	if len(pieces) > llama2cEOS {
		v.EOS = llama2cEOS
	}
	return New(v)
}
