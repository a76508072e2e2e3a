package eval

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/thinkv/thinkv/gguf"
)

// FileID identifies a model or a tokenizer by its size and a SHA-256 of what
// sets its behaviour, without reading gigabytes of weights: for a model its
// header and tensor table, for a tokenizer its files.
type FileID struct {
	Name   string `json:"name"` // base name, or OwnTokenizer
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// OwnTokenizer names the tokenizer of a run that uses the model's own.
const OwnTokenizer = "the model's own"

func (id FileID) String() string {
	if id.SHA256 == "" {
		return id.Name
	}
	return fmt.Sprintf("%s (%s, sha256 %.12s)", id.Name, sizeText(id.Size), id.SHA256)
}

// sizeText writes a byte count for people.
func sizeText(n int64) string {
	unit, div := byteUnit(float64(n))
	if div == 1 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.2f %s", float64(n)/div, unit)
}

// IdentifyModel identifies the model at path, as model.Load reads it: for a
// GGUF file, its size and a hash of its metadata and tensor directory; for a
// llama2.c checkpoint, its size and 28-byte header; for a Hugging Face
// directory, config.json and every safetensors file's size and header.
func IdentifyModel(path string) (FileID, error) {
	id := FileID{Name: filepath.Base(filepath.Clean(path))}
	h := sha256.New()
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return id, err
	case st.IsDir():
		id.Size, err = hashHF(h, path)
	default:
		id.Size = st.Size()
		err = hashCheckpoint(h, path)
	}
	if err != nil {
		return id, fmt.Errorf("identifying the model: %w", err)
	}
	id.SHA256 = hex.EncodeToString(h.Sum(nil))
	return id, nil
}

// hashCheckpoint hashes a GGUF file's header and tensor table, or a llama2.c
// checkpoint's header.
func hashCheckpoint(h hash.Hash, path string) error {
	head := make([]byte, 28)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	n, err := io.ReadFull(f, head)
	f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	if !bytes.HasPrefix(head[:n], []byte("GGUF")) {
		h.Write(head[:n])
		return nil
	}
	g, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer g.Close()
	fmt.Fprintf(h, "gguf %d %d\n", g.Version, g.Alignment)
	for _, kv := range g.KV {
		fmt.Fprintf(h, "%q ", kv.Key)
		hashValue(h, kv.Value)
		h.Write([]byte{'\n'})
	}
	for _, t := range g.Tensors {
		fmt.Fprintf(h, "%q %d %v %d\n", t.Name, t.Type, t.Shape, t.Offset)
	}
	return nil
}

// hashValue writes every element of a metadata value, arrays in full.
func hashValue(h io.Writer, v gguf.Value) {
	if elem, ok := v.Elem(); ok && elem == gguf.ValueArray {
		fmt.Fprintf(h, "[%d]{", v.Len())
		for i := range v.Len() {
			hashValue(h, v.Index(i))
			h.Write([]byte{','})
		}
		h.Write([]byte{'}'})
		return
	}
	fmt.Fprintf(h, "%d:%#v", v.Type, v.Interface())
}

// hashHF hashes a Hugging Face directory's config.json and the size and
// header of each of its safetensors files, returning their total size.
func hashHF(h hash.Hash, dir string) (int64, error) {
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return 0, err
	}
	h.Write(cfg)
	total := int64(len(cfg))
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return 0, err
	}
	for _, name := range files {
		n, head, err := safetensorsHeader(name)
		if err != nil {
			return 0, err
		}
		fmt.Fprintf(h, "\n%q %d ", filepath.Base(name), n)
		h.Write(head)
		total += n
	}
	return total, nil
}

// safetensorsHeader returns a safetensors file's size and its header: the
// length and the JSON tensor table.
func safetensorsHeader(path string) (int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	var n [8]byte
	if _, err := io.ReadFull(f, n[:]); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	hl := binary.LittleEndian.Uint64(n[:])
	if hl > uint64(st.Size()-8) || hl > 100<<20 {
		return 0, nil, fmt.Errorf("%s: header length %d exceeds the file (%d bytes)", path, hl, st.Size())
	}
	head := make([]byte, 8+hl)
	copy(head, n[:])
	if _, err := io.ReadFull(f, head[8:]); err != nil {
		return 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	return st.Size(), head, nil
}

// IdentifyTokenizer identifies a tokenizer given with -t ("" is the model's
// own) by its files: a llama2.c tokenizer.bin, or a tokenizer.json (or a
// directory holding one) with the configuration files read beside it.
func IdentifyTokenizer(path string) (FileID, error) {
	if path == "" {
		return FileID{Name: OwnTokenizer}, nil
	}
	id := FileID{Name: filepath.Base(filepath.Clean(path))}
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return id, err
	} else if st.IsDir() || strings.HasSuffix(path, ".json") {
		dir := path
		if !st.IsDir() {
			dir = filepath.Dir(path)
		} else {
			files = []string{filepath.Join(dir, "tokenizer.json")}
		}
		for _, name := range []string{"tokenizer_config.json", "generation_config.json", "config.json"} {
			files = append(files, filepath.Join(dir, name))
		}
	}
	h := sha256.New()
	for i, name := range files {
		b, err := os.ReadFile(name)
		if i > 0 && errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return id, fmt.Errorf("identifying the tokenizer: %w", err)
		}
		fmt.Fprintf(h, "%q %d\n", filepath.Base(name), len(b))
		h.Write(b)
		id.Size += int64(len(b))
	}
	id.SHA256 = hex.EncodeToString(h.Sum(nil))
	return id, nil
}
