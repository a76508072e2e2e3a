package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// HFFiles holds the contents of a Hugging Face tokenizer's files. Only
// Tokenizer is required; the others, when present, name the special tokens.
type HFFiles struct {
	Tokenizer        []byte // tokenizer.json
	TokenizerConfig  []byte // tokenizer_config.json: bos_token, eos_token, add_bos_token
	GenerationConfig []byte // generation_config.json: bos_token_id, eos_token_id (one or a list)
	Config           []byte // config.json: bos_token_id, eos_token_id
}

// Load reads a Hugging Face tokenizer: path is a tokenizer.json file or a
// directory holding one. tokenizer_config.json, generation_config.json and
// config.json beside it are read too if present. See ParseHF.
func Load(path string) (*Tokenizer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	dir, file := filepath.Dir(path), path
	if fi.IsDir() {
		dir, file = path, filepath.Join(path, "tokenizer.json")
	}
	var f HFFiles
	if f.Tokenizer, err = os.ReadFile(file); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	for _, o := range []struct {
		name string
		dst  *[]byte
	}{
		{"tokenizer_config.json", &f.TokenizerConfig},
		{"generation_config.json", &f.GenerationConfig},
		{"config.json", &f.Config},
	} {
		data, err := os.ReadFile(filepath.Join(dir, o.name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		*o.dst = data
	}
	t, err := ParseHF(f)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, file)
	}
	return t, nil
}

// ParseHF builds a Tokenizer from a Hugging Face tokenizer.json and its
// companion files. The model must be "BPE", in one of two shapes:
//
//   - byte-level, as GPT-2, Llama 3 and Qwen2: a ByteLevel pre-tokenizer,
//     alone or after Split pre-tokenizers with a regular expression;
//   - character-level with byte fallback, as Llama 2 and Mistral: a
//     Prepend("▁") and Replace(" ", "▁") normalizer, or a Metaspace
//     pre-tokenizer.
//
// Merges may be "left right" strings or pairs, and ignore_merges, fuse_unk,
// byte_fallback and the added tokens (with lstrip and rstrip) are honoured.
// The NFC normalizer is accepted but not applied, as in llama.cpp; other
// normalizers and pre-tokenizers, and other models (Unigram, WordPiece),
// are refused with an error.
//
// BOS comes from the post-processor's template (which also sets AddBOS),
// else tokenizer_config.json's bos_token (and add_bos_token), else
// generation_config.json or config.json. EOS comes from
// tokenizer_config.json's eos_token, else the first eos_token_id of
// generation_config.json or config.json, else an added token named "</s>",
// "<|end_of_text|>", "<|endoftext|>" or "<eos>"; all eos_token_id values
// join the end-of-generation set (see IsEOG).
func ParseHF(files HFFiles) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(files.Tokenizer, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: %w", err)
	}
	v, p, err := hfToVocab(&f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: %w", err)
	}
	if err := hfSpecials(&v, &f, files); err != nil {
		return nil, err
	}
	t, err := New(v)
	if err != nil {
		return nil, err
	}
	m := t.bpe
	m.ops = p.ops
	if p.byteLevel || len(p.steps) > 0 {
		m.steps = p.steps
	}
	m.ignoreMerges = f.Model.IgnoreMerges
	m.byteFallback = f.Model.ByteFallback
	m.fuseUnk = f.Model.FuseUnk
	for _, a := range f.AddedTokens {
		var flags uint8
		if a.LStrip {
			flags |= stripLeft
		}
		if a.RStrip {
			flags |= stripRight
		}
		if flags != 0 && t.pieces[a.ID] == a.Content {
			if t.special.strip == nil {
				t.special.strip = make(map[int32]uint8)
			}
			t.special.strip[int32(a.ID)] = flags
		}
	}
	return t, nil
}

// hfToVocab reads the model, normalizer and pre-tokenizer.
func hfToVocab(f *hfFile) (Vocab, *hfPipeline, error) {
	var v Vocab
	if f.Model.Type != "BPE" {
		return v, nil, fmt.Errorf("unsupported model type %q (only BPE)", f.Model.Type)
	}
	for _, s := range []*string{f.Model.ContinuingSubwordPrefix, f.Model.EndOfWordSuffix} {
		if s != nil && *s != "" {
			return v, nil, fmt.Errorf("unsupported BPE subword affix %q", *s)
		}
	}
	p := new(hfPipeline)
	if err := p.normalizer(f.Normalizer); err != nil {
		return v, nil, err
	}
	if err := p.preTokenizer(f.PreTokenizer, true); err != nil {
		return v, nil, err
	}
	pieces, types, unk, err := hfVocab(f, p.byteLevel)
	if err != nil {
		return v, nil, err
	}
	v = Vocab{Pieces: pieces, Types: types, BOS: -1, EOS: -1, UNK: unk, Merges: make([]string, len(f.Model.Merges))}
	for i, m := range f.Model.Merges {
		v.Merges[i] = string(m)
	}
	if p.byteLevel {
		v.Model, v.Pre = "gpt2", preName(p.steps)
	} else {
		v.Model, v.AddSpacePrefix = "llama", p.prefix
		v.Scores = mergeScores(pieces, v.Merges)
	}
	return v, p, nil
}
