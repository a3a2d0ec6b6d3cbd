/* Prints, for the CPython headers it is compiled against, every field of profkit's CPythonOffsets
 * that exists in that version, one "<group>.<field> <decimal value>" per line, after a
 * "version <PY_VERSION_HEX>" line. Fields absent from a version are not printed. Built at test
 * time with the interpreter's own include flags; nothing is linked against libpython. */
#define Py_BUILD_CORE 1
#include <Python.h>

#include <stddef.h>
#include <stdio.h>

#if PY_VERSION_HEX >= 0x03090000
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#else
#include "internal/pycore_pystate.h"
#endif
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_code.h"
#include "internal/pycore_frame.h"
#else
#include "frameobject.h"
#endif

static void Emit(const char* name, size_t value) { printf("%s %zu\n", name, value); }

#define FIELD(name, type, member) Emit(name, offsetof(type, member))

int main(void) {
  printf("version %lu\n", (unsigned long)PY_VERSION_HEX);

  FIELD("runtime.interpreters_head", _PyRuntimeState, interpreters.head);
  /* 3.15 replaced the gilstate TSS key with the thread-local _Py_tss_gilstate. */
#if PY_VERSION_HEX < 0x030F0000
#if PY_VERSION_HEX >= 0x030C0000
  const size_t tss = offsetof(_PyRuntimeState, autoTSSkey);
#else
  const size_t tss = offsetof(_PyRuntimeState, gilstate.autoTSSkey);
#endif
  Emit("runtime.tss_is_initialized", tss + offsetof(Py_tss_t, _is_initialized));
  Emit("runtime.tss_key", tss + offsetof(Py_tss_t, _key));
#endif

#if PY_VERSION_HEX >= 0x030B0000
  FIELD("interpreter.threads_head", PyInterpreterState, threads.head);
#else
  FIELD("interpreter.threads_head", PyInterpreterState, tstate_head);
#endif

  FIELD("thread_state.next", PyThreadState, next);
  FIELD("thread_state.interp", PyThreadState, interp);
#if PY_VERSION_HEX < 0x030B0000
  FIELD("thread_state.frame", PyThreadState, frame);
#elif PY_VERSION_HEX < 0x030D0000
  FIELD("thread_state.cframe", PyThreadState, cframe);
  FIELD("cframe.current_frame", _PyCFrame, current_frame);
#else
  FIELD("thread_state.current_frame", PyThreadState, current_frame);
#endif
#if PY_VERSION_HEX >= 0x030F0000
  FIELD("thread_state.base_frame", PyThreadState, base_frame);
#endif
  FIELD("thread_state.thread_id", PyThreadState, thread_id);
#if PY_VERSION_HEX >= 0x030B0000
  FIELD("thread_state.native_thread_id", PyThreadState, native_thread_id);
#endif
  Emit("thread_state.size", sizeof(PyThreadState));

#if PY_VERSION_HEX < 0x030B0000
  FIELD("frame_object.f_back", PyFrameObject, f_back);
  FIELD("frame_object.f_code", PyFrameObject, f_code);
  FIELD("frame_object.f_lasti", PyFrameObject, f_lasti);
#else
#if PY_VERSION_HEX >= 0x030D0000
  FIELD("interpreter_frame.code", _PyInterpreterFrame, f_executable);
  FIELD("interpreter_frame.instr_ptr", _PyInterpreterFrame, instr_ptr);
#else
  FIELD("interpreter_frame.code", _PyInterpreterFrame, f_code);
  FIELD("interpreter_frame.instr_ptr", _PyInterpreterFrame, prev_instr);
#endif
  FIELD("interpreter_frame.previous", _PyInterpreterFrame, previous);
  FIELD("interpreter_frame.owner", _PyInterpreterFrame, owner);
#if PY_VERSION_HEX < 0x030C0000
  FIELD("interpreter_frame.is_entry", _PyInterpreterFrame, is_entry);
#endif
  Emit("interpreter_frame.size", sizeof(_PyInterpreterFrame));
#endif

  FIELD("code_object.argcount", PyCodeObject, co_argcount);
  FIELD("code_object.kwonlyargcount", PyCodeObject, co_kwonlyargcount);
  FIELD("code_object.flags", PyCodeObject, co_flags);
  FIELD("code_object.firstlineno", PyCodeObject, co_firstlineno);
  FIELD("code_object.filename", PyCodeObject, co_filename);
  FIELD("code_object.name", PyCodeObject, co_name);
#if PY_VERSION_HEX >= 0x030B0000
  FIELD("code_object.qualname", PyCodeObject, co_qualname);
  FIELD("code_object.code_adaptive", PyCodeObject, co_code_adaptive);
#else
  FIELD("code_object.code", PyCodeObject, co_code);
#endif
#if PY_VERSION_HEX >= 0x030A0000
  FIELD("code_object.linetable", PyCodeObject, co_linetable);
#else
  FIELD("code_object.lnotab", PyCodeObject, co_lnotab);
#endif
  Emit("code_object.size", sizeof(PyCodeObject));

  FIELD("object.ob_type", PyObject, ob_type);

  FIELD("unicode.length", PyASCIIObject, length);
  FIELD("unicode.state", PyASCIIObject, state);
  Emit("unicode.ascii_data", sizeof(PyASCIIObject));
  Emit("unicode.compact_data", sizeof(PyCompactUnicodeObject));

  FIELD("bytes.ob_size", PyVarObject, ob_size);
  FIELD("bytes.ob_sval", PyBytesObject, ob_sval);
  return 0;
}
