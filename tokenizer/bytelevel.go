package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Byte-level BPE vocabularies (GPT-2, Llama 3, Qwen2) spell every byte as a
// printable character: the bytes '!'..'~', '¡'..'¬' and '®'..'ÿ' stand for
// themselves, and the other 68 bytes (controls, space, DEL, NBSP, soft
// hyphen), in increasing order, become U+0100, U+0101, ... So a space is
// "Ġ" (U+0120) and a newline "Ċ" (U+010A).

// byteRune holds the character that spells each byte.
var byteRune [256]rune

// runeByte maps the characters U+0000..U+0143 back to their byte, or -1 if
// the character spells no byte.
var runeByte [256 + 68]int16

func init() {
	for i := range runeByte {
		runeByte[i] = -1
	}
	next := rune(256)
	for b := range 256 {
		r := rune(b)
		if !selfSpelled(byte(b)) {
			r = next
			next++
		}
		byteRune[b] = r
		runeByte[r] = int16(b)
	}
}

// selfSpelled reports whether byte b is spelled by the character with the
// same code point.
func selfSpelled(b byte) bool {
	return '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b
}

// byteLevelDecode turns a byte-level piece back into the bytes it spells.
// Characters that spell no byte (as in added tokens) are kept as UTF-8, and
// invalid UTF-8 is kept as is.
func byteLevelDecode(piece string) string {
	var b strings.Builder
	b.Grow(len(piece))
	for i := 0; i < len(piece); {
		r, n := utf8.DecodeRuneInString(piece[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteByte(piece[i])
		case int(r) < len(runeByte) && runeByte[r] >= 0:
			b.WriteByte(byte(runeByte[r]))
		default:
			b.WriteString(piece[i : i+n])
		}
		i += n
	}
	return b.String()
}

// byteLevelEncode spells the bytes of s as a byte-level piece.
func byteLevelEncode(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteRune[s[i]])
	}
	return b.String()
}
