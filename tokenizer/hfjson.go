package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// hfFile is the part of a Hugging Face tokenizer.json that is read.
type hfFile struct {
	AddedTokens   []hfAddedToken `json:"added_tokens"`
	Normalizer    *hfComponent   `json:"normalizer"`
	PreTokenizer  *hfComponent   `json:"pre_tokenizer"`
	PostProcessor *hfComponent   `json:"post_processor"`
	Model         hfModel        `json:"model"`
}

type hfAddedToken struct {
	ID      int    `json:"id"`
	Content string `json:"content"`
	LStrip  bool   `json:"lstrip"`
	RStrip  bool   `json:"rstrip"`
	Special bool   `json:"special"`
}

type hfModel struct {
	Type                    string         `json:"type"`
	Vocab                   map[string]int `json:"vocab"`
	Merges                  []hfMerge      `json:"merges"`
	UnkToken                *string        `json:"unk_token"`
	ByteFallback            bool           `json:"byte_fallback"`
	FuseUnk                 bool           `json:"fuse_unk"`
	IgnoreMerges            bool           `json:"ignore_merges"`
	ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string        `json:"end_of_word_suffix"`
}

// hfMerge is one merge, stored in GGUF's "left right" form. tokenizer.json
// writes it either that way or as a pair ["left", "right"].
type hfMerge string

func (m *hfMerge) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		if strings.Count(s, " ") != 1 || s[0] == ' ' || s[len(s)-1] == ' ' {
			return fmt.Errorf("merge %q is not two pieces", s)
		}
		*m = hfMerge(s)
		return nil
	}
	var pair []string
	if err := json.Unmarshal(data, &pair); err != nil {
		return err
	}
	if len(pair) != 2 || pair[0] == "" || pair[1] == "" {
		return fmt.Errorf("merge %q is not two pieces", pair)
	}
	// The "left right" form splits at the first space after the first
	// byte, so the left piece may have a space only at its start.
	if strings.Contains(pair[0][1:], " ") {
		return fmt.Errorf("merge %q: left piece has a space", pair)
	}
	*m = hfMerge(pair[0] + " " + pair[1])
	return nil
}

// maxHFTokens bounds the vocabulary a tokenizer.json may declare.
const maxHFTokens = 1 << 24

// hfVocab turns the model's vocabulary and the added tokens into pieces and
// types. Ids missing from both become Unused "[PADn]" pieces.
func hfVocab(f *hfFile, byteLevel bool) (pieces []string, types []TokenType, unk int, err error) {
	n := 0
	for p, id := range f.Model.Vocab {
		if id < 0 || id >= maxHFTokens {
			return nil, nil, 0, fmt.Errorf("token %q has id %d", p, id)
		}
		n = max(n, id+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= maxHFTokens || a.Content == "" {
			return nil, nil, 0, fmt.Errorf("added token %q has id %d", a.Content, a.ID)
		}
		n = max(n, a.ID+1)
	}
	if n == 0 {
		return nil, nil, 0, errors.New("empty vocabulary")
	}
	// Allow gaps, but not a vocabulary mostly made of them.
	if n > 2*(len(f.Model.Vocab)+len(f.AddedTokens))+1024 {
		return nil, nil, 0, fmt.Errorf("token ids up to %d for %d tokens", n-1, len(f.Model.Vocab)+len(f.AddedTokens))
	}
	pieces = make([]string, n)
	types = make([]TokenType, n)
	for p, id := range f.Model.Vocab {
		if pieces[id] != "" || types[id] != 0 {
			return nil, nil, 0, fmt.Errorf("id %d is both %q and %q", id, pieces[id], p)
		}
		pieces[id], types[id] = p, Normal
		if _, ok := parseByte(p); ok && !byteLevel {
			types[id] = Byte
		}
	}
	for _, a := range f.AddedTokens {
		pieces[a.ID], types[a.ID] = a.Content, UserDefined
		if a.Special {
			types[a.ID] = Control
		}
	}
	unk = -1
	if u := f.Model.UnkToken; u != nil && *u != "" {
		for id, p := range pieces {
			if p == *u {
				unk, types[id] = id, Unknown
				break
			}
		}
		if unk < 0 {
			return nil, nil, 0, fmt.Errorf("unk_token %q is not in the vocabulary", *u)
		}
	}
	for id := range pieces {
		if types[id] == 0 {
			pieces[id], types[id] = fmt.Sprintf("[PAD%d]", id), Unused
		}
	}
	return pieces, types, unk, nil
}

// mergeScores gives each piece a SentencePiece-style score from the merges:
// minus the rank of the first merge that makes it, and below all of those
// for pieces no merge makes, so that a GGUF "llama" export of a
// character-level BPE vocabulary merges in nearly the same order.
func mergeScores(pieces []string, merges []string) []float32 {
	rank := make(map[string]int, len(merges))
	for r, m := range merges {
		if a, b, ok := splitMerge(m); ok {
			if _, dup := rank[a+b]; !dup {
				rank[a+b] = r
			}
		}
	}
	scores := make([]float32, len(pieces))
	for id, p := range pieces {
		if r, ok := rank[p]; ok {
			scores[id] = -float32(r)
		} else {
			scores[id] = -float32(len(merges) + id)
		}
	}
	return scores
}
