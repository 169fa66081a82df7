# Cross build for 64-bit ARM boards (Rockchip RK3588 and friends) with
# Debian's gcc-aarch64-linux-gnu. Libraries come from Debian's arm64
# multiarch packages (libjansson-dev:arm64, libcmocka-dev:arm64, installed by
# scripts/install-deps.sh); ctest runs the programs under qemu-user.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Only arm64 libraries: never let find_library or pkg-config pick the host's.
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# Programs run on the arm64 multiarch runtime (-L /: /lib/ld-linux-aarch64.so.1
# and /lib/aarch64-linux-gnu), the one libcmocka0:arm64 and libjansson4:arm64
# come with. With -L /usr/aarch64-linux-gnu the loader came from the cross
# libc (2.36-8cross1) but the host's ld.so.cache handed it the multiarch
# libc.so.6 (2.36-9+deb12u14); the mismatch made pthread_create loop forever.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /)
