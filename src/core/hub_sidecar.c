/* The sidecar a pull leaves beside its model (hub.h). A person may have
 * edited the sidecar (a chat template, a name); a re-pull keeps all that and
 * only adds what the pull knows. */
#include "core/hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/model_names.h"

static bool has_alias(json_t *arr, const char *a)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && !strcasecmp(json_string_value(v), a)) return true;
    }
    return false;
}

int hub_sidecar_write(const char *model_path, const char *const *aliases, int n_aliases, const char *vision_key,
                      const char *const *vision, int n_vision, json_t *pull, char *path, size_t pathlen, char *err,
                      size_t errlen)
{
    const char *slash = strrchr(model_path, '/');
    size_t dl = slash ? (size_t)(slash - model_path) : 0;
    char stem[512];
    model_file_stem(model_path, stem, sizeof stem);
    int w = snprintf(path, pathlen, "%.*s%s%s.json", (int)dl, model_path, slash ? "/" : "", stem);
    if (w < 0 || (size_t)w >= pathlen) {
        json_decref(pull);
        snprintf(err, errlen, "path too long");
        return -1;
    }
    json_t *root = NULL;
    struct stat st;
    if (stat(path, &st) == 0) {
        json_error_t je;
        root = json_load_file(path, 0, &je);
        if (!json_is_object(root)) {
            json_decref(root);
            json_decref(pull);
            snprintf(err, errlen, "%s is not a JSON object (%s); left as it is, so the pull is not recorded there",
                     path, je.text[0] ? je.text : "not an object");
            return -1;
        }
    } else {
        root = json_object();
    }
    json_t *al = json_object_get(root, "aliases");
    if (json_is_string(al)) { /* one alias as a string: keep it in the list */
        json_t *arr = json_array();
        json_array_append(arr, al);
        json_object_set_new(root, "aliases", arr);
        al = arr;
    } else if (!json_is_array(al)) {
        al = json_array();
        json_object_set_new(root, "aliases", al);
    }
    for (int i = 0; i < n_aliases; i++)
        if (!has_alias(al, aliases[i])) json_array_append_new(al, json_string(aliases[i]));
    if (!json_array_size(al)) json_object_del(root, "aliases");
    if (n_vision > 0) {
        json_t *v = json_object_get(root, "vision");
        if (!json_is_object(v)) {
            v = json_object();
            json_object_set_new(root, "vision", v);
        }
        json_t *files = json_array();
        for (int i = 0; i < n_vision; i++) json_array_append_new(files, json_string(vision[i]));
        json_object_set_new(v, vision_key, n_vision == 1 ? json_string(vision[0]) : files);
        if (n_vision == 1) json_decref(files);
    }
    json_object_set_new(root, "_pull", pull);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(root, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (rc != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
