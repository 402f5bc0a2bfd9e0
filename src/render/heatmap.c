/* heatmap.c - attention map upsampling, colour map and blending (see heatmap.h). */
#include "render/heatmap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *hm_style_name(hm_style style)
{
    switch (style) {
    case HM_HEATMAP: return "heatmap";
    case HM_SPOTLIGHT: return "spotlight";
    case HM_OFF: return "off";
    case HM_STYLE_COUNT: break;
    }
    return "?";
}

/* Per output coordinate along one axis: the two neighbouring cell centres and the weight of
 * the second. Precomputed once per axis so the 2-D loop is a plain lerp. */
typedef struct axis_tap {
    int i0, i1;
    float f;
} axis_tap;

static void axis_taps(int cells, int size, axis_tap *taps)
{
    for (int x = 0; x < size; x++) {
        /* Pixel centre x + 0.5 in cell units, minus 0.5 so that cell centres land on
         * integers. */
        float u = ((float)x + 0.5f) * (float)cells / (float)size - 0.5f;
        if (u <= 0.0f) {
            taps[x] = (axis_tap){0, 0, 0.0f};
        } else if (u >= (float)(cells - 1)) {
            taps[x] = (axis_tap){cells - 1, cells - 1, 0.0f};
        } else {
            int i = (int)u;
            taps[x] = (axis_tap){i, i + 1, u - (float)i};
        }
    }
}

int hm_upsample(const float *alpha, int rows, int cols, int width, int height, float *heat)
{
    if (!alpha || !heat || rows < 1 || cols < 1 || width < 1 || height < 1)
        return -1;
    axis_tap *tx = malloc(sizeof *tx * (size_t)width);
    axis_tap *ty = malloc(sizeof *ty * (size_t)height);
    if (!tx || !ty) {
        free(tx);
        free(ty);
        return -1;
    }
    axis_taps(cols, width, tx);
    axis_taps(rows, height, ty);

    float lo = alpha[0], hi = alpha[0];
    for (int i = 1; i < rows * cols; i++) {
        if (alpha[i] < lo)
            lo = alpha[i];
        if (alpha[i] > hi)
            hi = alpha[i];
    }
    /* Trained maps are often close to uniform (peak 0.03 against 1/49 = 0.02), so scaling by
     * the peak alone would paint the whole photo hot; stretching min..max to 0..1 shows where
     * the model looks more, as matplotlib's imshow does in the usual figures. */
    const float scale = hi - lo > 1e-12f ? 1.0f / (hi - lo) : 0.0f;

    for (int y = 0; y < height; y++) {
        const float *r0 = alpha + (size_t)ty[y].i0 * cols;
        const float *r1 = alpha + (size_t)ty[y].i1 * cols;
        const float fy = ty[y].f;
        float *dst = heat + (size_t)y * width;
        for (int x = 0; x < width; x++) {
            const axis_tap t = tx[x];
            float top = r0[t.i0] + (r0[t.i1] - r0[t.i0]) * t.f;
            float bot = r1[t.i0] + (r1[t.i1] - r1[t.i0]) * t.f;
            float v = (top + (bot - top) * fy - lo) * scale;
            dst[x] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
    }
    free(tx);
    free(ty);
    return 0;
}

static const unsigned char inferno10[10][3] = {
    {0x00, 0x00, 0x04}, {0x1B, 0x0C, 0x42}, {0x4B, 0x0C, 0x6B}, {0x78, 0x1C, 0x6D},
    {0xA5, 0x2C, 0x60}, {0xCF, 0x44, 0x46}, {0xED, 0x69, 0x25}, {0xFB, 0x9A, 0x06},
    {0xF7, 0xD0, 0x3C}, {0xFC, 0xFF, 0xA4},
};

void hm_colormap(float t, unsigned char rgb[3])
{
    if (!(t > 0.0f)) /* also catches NaN */
        t = 0.0f;
    if (t > 1.0f)
        t = 1.0f;
    float u = t * 9.0f;
    int i = (int)u;
    if (i > 8)
        i = 8;
    float f = u - (float)i;
    for (int c = 0; c < 3; c++) {
        float v = inferno10[i][c] + (inferno10[i + 1][c] - inferno10[i][c]) * f;
        rgb[c] = (unsigned char)lrintf(v);
    }
}

/* A 1024-entry table keeps the per-pixel cost to one lookup; 1024 levels are finer than the
 * 8-bit output can show after blending. */
#define LUT_SIZE 1024

void hm_blend(unsigned char *rgb, int width, int height, size_t stride, const float *heat,
              hm_style style, float opacity)
{
    if (!rgb || !heat || width < 1 || height < 1 || style == HM_OFF || style >= HM_STYLE_COUNT)
        return;
    if (!(opacity > 0.0f))
        return;
    if (opacity > 1.0f)
        opacity = 1.0f;

    if (style == HM_SPOTLIGHT) {
        for (int y = 0; y < height; y++) {
            unsigned char *p = rgb + (size_t)y * stride;
            const float *h = heat + (size_t)y * width;
            for (int x = 0; x < width; x++, p += 3) {
                float k = 1.0f - opacity * (1.0f - h[x]);
                for (int c = 0; c < 3; c++)
                    p[c] = (unsigned char)(p[c] * k + 0.5f);
            }
        }
        return;
    }

    /* Heatmap: precompute opacity * colour once per table entry. */
    float lut[LUT_SIZE][3];
    for (int i = 0; i < LUT_SIZE; i++) {
        unsigned char c[3];
        hm_colormap((float)i / (LUT_SIZE - 1), c);
        for (int k = 0; k < 3; k++)
            lut[i][k] = opacity * c[k] + 0.5f; /* + 0.5: round when truncating below */
    }
    const float keep = 1.0f - opacity;
    for (int y = 0; y < height; y++) {
        unsigned char *p = rgb + (size_t)y * stride;
        const float *h = heat + (size_t)y * width;
        for (int x = 0; x < width; x++, p += 3) {
            int i = (int)(h[x] * (LUT_SIZE - 1) + 0.5f);
            if (i < 0)
                i = 0;
            if (i >= LUT_SIZE)
                i = LUT_SIZE - 1;
            for (int c = 0; c < 3; c++) {
                float v = keep * p[c] + lut[i][c];
                p[c] = (unsigned char)(v > 255.0f ? 255.0f : v);
            }
        }
    }
}

int hm_render(const cap_image *photo, const float *alpha, int rows, int cols, hm_style style,
              float opacity, unsigned char *out, size_t out_stride)
{
    if (!photo || !photo->rgb || photo->width < 1 || photo->height < 1 || !out ||
        out_stride < 3 * (size_t)photo->width)
        return -1;
    const int w = photo->width, h = photo->height;
    for (int y = 0; y < h; y++)
        memcpy(out + (size_t)y * out_stride, photo->rgb + (size_t)y * w * 3, (size_t)w * 3);
    if (!alpha || style == HM_OFF)
        return 0;
    float *heat = malloc(sizeof *heat * (size_t)w * h);
    if (!heat)
        return -1;
    int rc = hm_upsample(alpha, rows, cols, w, h, heat);
    if (rc == 0)
        hm_blend(out, w, h, out_stride, heat, style, opacity);
    free(heat);
    return rc;
}

void hm_fit(int src_w, int src_h, int box_w, int box_h, int *width, int *height)
{
    if (src_w < 1 || src_h < 1 || box_w < 1 || box_h < 1) {
        *width = box_w > 0 ? box_w : 0;
        *height = box_h > 0 ? box_h : 0;
        return;
    }
    /* Compare box_w / box_h with src_w / src_h in integers to avoid rounding surprises. */
    if ((long long)box_w * src_h <= (long long)box_h * src_w) {
        *width = box_w;
        *height = (int)(((long long)box_w * src_h + src_w / 2) / src_w);
    } else {
        *height = box_h;
        *width = (int)(((long long)box_h * src_w + src_h / 2) / src_h);
    }
    if (*width < 1)
        *width = 1;
    if (*height < 1)
        *height = 1;
}

int hm_argmax(const float *v, int n)
{
    if (!v || n < 1)
        return -1;
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}
