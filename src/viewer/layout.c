/* layout.c - the parts of viewer.h that describe the window without opening one: its
 * default options and where it shows the photo. Built with or without SDL, so tests can
 * predict a screenshot's layout. */
#include "viewer/viewer.h"

#include "render/heatmap.h"
#include "viewer/layout.h"

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
                          .keys = NULL,
                          .caption_fn = NULL};
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
