/* attention_png.c - caption_attention_png (viewer.h): the headless --attention-png figure
 * of one image, drawn by render/figure.h and written with render/png_write.h. */
#include "viewer/viewer.h"

#include "render/figure.h"
#include "render/png_write.h"
#include "render/text.h"
#include "viewer/base_name.h"

#include <stdio.h>

int caption_attention_png(const cap_model *model, const cap_options *opt,
                          const char *image_path, const char *out_png)
{
    return caption_attention_png_with(model, opt, image_path, out_png, NULL);
}

int caption_attention_png_with(const cap_model *model, const cap_options *opt,
                               const char *image_path, const char *out_png,
                               const view_options *vo)
{
    const view_caption_fn caption = vo && vo->caption_fn ? vo->caption_fn : cap_caption_image;
    if (!model || !opt || !image_path || !out_png) {
        fprintf(stderr, "caption: --attention-png: invalid arguments\n");
        return 1;
    }
    cap_error err = {0};
    cap_image img = {0};
    cap_result res = {0};
    if (cap_image_load_file(image_path, &img, &err) != CAP_OK ||
        caption(model, &img, opt, &res, &err) != CAP_OK) {
        fprintf(stderr, "caption: %s: %s\n", image_path, err.message);
        cap_image_free(&img);
        return 1;
    }
    int rc = 0;
    char why[300];
    cap_image fig = {0};
    if (fig_render(model, &img, &res, 0, base_name(image_path), opt->beam_size,
                   text_default_font_path(), &fig, why, sizeof why) != 0) {
        fprintf(stderr, "caption: %s: %s\n", image_path, why);
        rc = 1;
    } else if (cap_write_png(out_png, fig.rgb, fig.width, fig.height, (size_t)fig.width * 3, why,
                             sizeof why) != 0) {
        fprintf(stderr, "caption: %s: %s\n", out_png, why);
        rc = 1;
    }
    cap_image_free(&fig);
    cap_result_free(&res);
    cap_image_free(&img);
    return rc;
}
