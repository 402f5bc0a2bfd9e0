/* layout.h - window geometry shared by the SDL viewer and caption_view_photo_rect, kept
 * free of SDL so that the photo's place in a screenshot is computable without a window. */
#ifndef CAPTION_VIEWER_LAYOUT_H
#define CAPTION_VIEWER_LAYOUT_H

#define VIEW_MARGIN 10    /* around the photo and the panel */
#define VIEW_PANEL_H 220  /* caption panel under the photo: words, info line, status bar */
#define VIEW_STATUS_H 26  /* status bar, at the very bottom of the panel */
#define VIEW_INFO_H 30    /* the current word's numbers, above the status bar */
#define VIEW_TAGS_H 24    /* the tag line above the info line (only with tags; taken from the
                             words' band, so the panel keeps its height) */

/* Height of the caption panel for a window win_h pixels tall. It does not depend on the
 * caption (long captions get a smaller font instead), so the photo does not jump around
 * while stepping through images; small windows give the panel at most half. */
static inline int view_panel_height(int win_h)
{
    return win_h < 2 * VIEW_PANEL_H ? win_h / 2 : VIEW_PANEL_H;
}

#endif
