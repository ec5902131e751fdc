package batch

import "fmt"

// ErrReport matches, with errors.Is, every error of Run that is about writing the reports or
// the changes journal rather than about Graph: the caller then owes the user a --resume command.
var ErrReport = reportErr{}

type reportErr struct{}

func (reportErr) Error() string { return "the report could not be written" }

// reportError wraps a failed write of what records the run.
type reportError struct {
	what string
	err  error
}

func (e *reportError) Error() string        { return e.what + ": " + e.err.Error() }
func (e *reportError) Unwrap() error        { return e.err }
func (e *reportError) Is(target error) bool { return target == ErrReport }

func writeError(what string, err error) error { return &reportError{what, err} }

func writeErrorf(what string, err error, format string, args ...any) error {
	return &reportError{what, fmt.Errorf("%w"+format, append([]any{err}, args...)...)}
}
