{
  "targets": [
    {
      "target_name": "shmrpc",
      "sources": [
        "addon/binding.cc",
        "addon/copy.cc",
        "addon/futex.cc",
        "addon/mapping.cc",
        "addon/socket.cc",
        "addon/util.cc",
        "addon/wait_pool.cc",
        "addon/waiter.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-O3"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "cflags_cc": ["-fexceptions"],
      "ldflags": ["-pthread"]
    }
  ]
}
