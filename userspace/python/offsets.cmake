# Interpreter structure offsets: built-in tables (3.8–3.12), _Py_DebugOffsets parser (3.13+) and
# version parsing.
target_sources(profkit_python PRIVATE ${CMAKE_CURRENT_LIST_DIR}/offsets.cc)
