/* common.c - the parts of viewer.h that need no SDL: options, layout, and the headless
 * --attention-png figure. */
#include "viewer/viewer.h"

#include "render/figure.h"
#include "render/heatmap.h"
#include "render/png_write.h"
#include "render/text.h"
#include "viewer/layout.h"

#include <stdio.h>
#include <string.h>

view_options view_options_default(void)
{
    return (view_options){.screenshot = NULL,
                          .step = 1,
                          .width = 1024,
                          .height = 768,
                          .overlay = HM_HEATMAP,
                          .opacity = HM_DEFAULT_OPACITY,
                          .caption_index = 0,
                          .font_path = NULL,
                          .keys = NULL};
}

void caption_view_photo_rect(int win_w, int win_h, int img_w, int img_h, int *x, int *y, int *w,
                             int *h)
{
    int area_w = win_w - 2 * VIEW_MARGIN;
    int area_h = win_h - VIEW_MARGIN - view_panel_height(win_h);
    if (area_w < 1)
        area_w = 1;
    if (area_h < 1)
        area_h = 1;
    hm_fit(img_w, img_h, area_w, area_h, w, h);
    *x = (win_w - *w) / 2;
    *y = VIEW_MARGIN + (area_h - *h) / 2;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int caption_attention_png(const cap_model *model, const cap_options *opt,
                          const char *image_path, const char *out_png)
{
    if (!model || !opt || !image_path || !out_png) {
        fprintf(stderr, "caption: --attention-png: invalid arguments\n");
        return 1;
    }
    cap_error err = {0};
    cap_image img = {0};
    cap_result res = {0};
    if (cap_image_load_file(image_path, &img, &err) != CAP_OK ||
        cap_caption_image(model, &img, opt, &res, &err) != CAP_OK) {
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
