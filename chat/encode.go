package chat

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/thinkv/thinkv/tokenizer"
)

// specials are a tokenizer's special and added token pieces, as
// EncodeSpecial matches them: Control, UserDefined and Unknown tokens.
type specials struct {
	first [256][]int // ids by first byte, longest first
	tok   *tokenizer.Tokenizer
}

var specialsCache sync.Map // *tokenizer.Tokenizer → *specials

func specialsOf(tok *tokenizer.Tokenizer) *specials {
	if s, ok := specialsCache.Load(tok); ok {
		return s.(*specials)
	}
	s := &specials{tok: tok}
	for id := range tok.VocabSize() {
		switch tok.Type(id) {
		case tokenizer.Control, tokenizer.UserDefined, tokenizer.Unknown:
			if p := tok.Token(id); p != "" {
				s.first[p[0]] = append(s.first[p[0]], id)
			}
		}
	}
	for _, ids := range s.first {
		slices.SortStableFunc(ids, func(a, b int) int { return len(tok.Token(b)) - len(tok.Token(a)) })
	}
	v, _ := specialsCache.LoadOrStore(tok, s)
	return v.(*specials)
}

// match returns the longest special token at text[i:] and its length, or a
// length of 0.
func (s *specials) match(text string, i int) (id, n int) {
	for _, id := range s.first[text[i]] {
		if p := s.tok.Token(id); strings.HasPrefix(text[i:], p) {
			return id, len(p)
		}
	}
	return -1, 0
}

// Markers stand in for special-token text in message contents while the
// template renders: markOpen, the literal's number, markClose. They are
// Unicode noncharacters, which no tokenizer's special token contains; a
// markOpen in a content is itself replaced by a marker.
const (
	markOpen  = "\uFDD0"
	markClose = "\uFDD1"
)

// EncodePrompt renders messages with tmpl and encodes the prompt for tok,
// so that the special tokens the template writes (such as "<|eot_id|>" or
// "<|im_start|>") become special tokens while message contents stay text:
// a user who writes "<|eot_id|>" gets the tokens of that text, not the
// end-of-turn token, and cannot forge a turn.
//
// Contents without special-token text are encoded exactly as
// tok.EncodeSpecial encodes the rendered prompt. Otherwise each
// special-token text in a content is replaced by a marker for rendering,
// the prompt is cut at the template's own special tokens, and the text
// between them (with the contents' special-token text restored) is encoded
// as by tok.Encode; the lstrip and rstrip of Hugging Face added tokens are
// then not applied. A template that inspects contents for special-token
// text (rendering differently with markers) is an error in that case.
//
// If tok.AddBOS() and the template did not start the prompt with BOS, BOS
// is added in front.
func EncodePrompt(tok *tokenizer.Tokenizer, tmpl *Template, messages []Message, addGenerationPrompt bool) ([]int, error) {
	rendered, err := tmpl.Render(messages, addGenerationPrompt)
	if err != nil {
		return nil, err
	}
	sp := specialsOf(tok)
	var literals []string
	marked := make([]Message, len(messages))
	for i, m := range messages {
		marked[i] = m
		marked[i].Content = sp.defuse(m.Content, &literals)
	}
	var ids []int
	if len(literals) == 0 {
		ids = tok.EncodeSpecial(rendered, false)
	} else {
		withMarks, err := tmpl.Render(marked, addGenerationPrompt)
		if err != nil {
			return nil, err
		}
		if ids, err = sp.encode(withMarks, literals, rendered); err != nil {
			return nil, fmt.Errorf("chat: template %s: %w", tmpl.Name, err)
		}
	}
	if bos := tok.BOS(); tok.AddBOS() && bos >= 0 && (len(ids) == 0 || ids[0] != bos) {
		ids = append([]int{bos}, ids...)
	}
	return ids, nil
}

// defuse replaces each special-token text in s (and each markOpen) by a
// marker, appending the texts replaced to literals.
func (sp *specials) defuse(s string, literals *[]string) string {
	var sb strings.Builder
	start := 0
	for i := 0; i < len(s); {
		n := 0
		if strings.HasPrefix(s[i:], markOpen) {
			n = len(markOpen)
		} else {
			_, n = sp.match(s, i)
		}
		if n == 0 {
			i++
			continue
		}
		sb.WriteString(s[start:i])
		sb.WriteString(markOpen)
		sb.WriteString(strconv.Itoa(len(*literals)))
		sb.WriteString(markClose)
		*literals = append(*literals, s[i:i+n])
		i += n
		start = i
	}
	if start == 0 {
		return s
	}
	sb.WriteString(s[start:])
	return sb.String()
}

// encode encodes a prompt rendered with markers: the special tokens outside
// markers become special tokens, the text between them, with the markers'
// literals restored, is encoded as plain text. The restored prompt must be
// want, the prompt rendered without markers.
func (sp *specials) encode(marked string, literals []string, want string) ([]int, error) {
	var ids []int
	var run, restored strings.Builder
	for i := 0; i < len(marked); {
		if strings.HasPrefix(marked[i:], markOpen) {
			j := i + len(markOpen)
			k := strings.Index(marked[j:], markClose)
			if k > 0 {
				if n, err := strconv.Atoi(marked[j : j+k]); err == nil && n >= 0 && n < len(literals) {
					run.WriteString(literals[n])
					restored.WriteString(literals[n])
					i = j + k + len(markClose)
					continue
				}
			}
		}
		id, n := sp.match(marked, i)
		if n == 0 {
			run.WriteByte(marked[i])
			restored.WriteByte(marked[i])
			i++
			continue
		}
		if run.Len() > 0 {
			ids = append(ids, sp.tok.Encode(run.String(), false)...)
			run.Reset()
		}
		ids = append(ids, id)
		restored.WriteString(marked[i : i+n])
		i += n
	}
	if run.Len() > 0 {
		ids = append(ids, sp.tok.Encode(run.String(), false)...)
	}
	if restored.String() != want {
		return nil, fmt.Errorf("the template renders message contents that hold special-token text differently when they are marked")
	}
	return ids, nil
}
