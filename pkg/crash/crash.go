// Package crash marks the steps of ADD and DEL for fault-injection tests.
//
// In the shipped binary Point does nothing. Built with the faultinject tag,
// it stops the process dead (SIGKILL, as the OOM killer or a node failure
// would) at the point that FASTPATH_CRASH_AT names, and appends every point
// it passes to the file FASTPATH_CRASH_TRACE names, so that a test can list
// the steps of a call and then crash it after each one.
package crash
