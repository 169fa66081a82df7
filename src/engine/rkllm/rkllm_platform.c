/* Board facts the rkllm engine derives its defaults from. */
#include <stdio.h>
#include <string.h>

#include "core/model_names.h"
#include "engine/rkllm/rkllm_engine.h"

uint32_t rkllm_default_cpu_mask(const char *compatible_path)
{
    FILE *f = fopen(compatible_path, "rb");
    if (!f) return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    /* NUL-separated list, most specific first ("radxa,rock-5b\0rockchip,rk3588\0") */
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        buf[n] = 0;
        const char *s = buf + i;
        /* big cores are 4-7 on both (A76 on RK3588/RK3588S, A72 on RK3576) */
        if (strcmp(s, "rockchip,rk3588") == 0 || strcmp(s, "rockchip,rk3588s") == 0 ||
            strcmp(s, "rockchip,rk3576") == 0)
            return 0xF0u;
    }
    return 0;
}

int32_t rkllm_ctx_from_name(const char *path)
{
    model_name_parts parts;
    model_name_parse(path, &parts);
    return parts.ctx > 0 && parts.ctx <= (1 << 20) ? (int32_t)parts.ctx : 0;
}
