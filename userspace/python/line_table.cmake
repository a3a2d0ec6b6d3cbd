# CPython line-table decoding (3.8 lnotab, 3.10 linetable, 3.11+ location table).
target_sources(profkit_python PRIVATE ${CMAKE_CURRENT_LIST_DIR}/line_table.cc)
