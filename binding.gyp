{
  "targets": [
    {
      "target_name": "kiln-runtime",
      "type": "executable",
      "sources": ["runtime/kiln-runtime.c", "runtime/json.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-Wno-format-truncation", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"],
      "ldflags": ["-Wl,-z,relro,-z,now"]
    }
  ]
}
