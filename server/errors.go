package server

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an error answered to the client as OpenAI does:
// {"error": {"message", "type", "param", "code"}} with an HTTP status.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
	// RetryAfter, if > 0, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
}

func (e *apiError) Error() string { return e.Message }

// errf makes an apiError of the given status, OpenAI error type, parameter
// ("" for none) and code ("" for none).
func errf(status int, typ, param, code, format string, a ...any) *apiError {
	e := &apiError{Status: status, Type: typ, Message: fmt.Sprintf(format, a...)}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	return e
}

// badRequest is a 400 invalid_request_error about param.
func badRequest(param, format string, a ...any) *apiError {
	return errf(http.StatusBadRequest, "invalid_request_error", param, "", format, a...)
}

// writeError answers err: an *apiError as it says, anything else as a 500.
func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = errf(http.StatusInternalServerError, "server_error", "", "", "%v", err)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	writeJSON(w, e.Status, map[string]any{"error": e})
}

// writeJSON answers v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
