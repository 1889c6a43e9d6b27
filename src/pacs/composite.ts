/**
 * The attributes every object we store into a study shares: the patient and study (copied from the source, so
 * that the PACS files it in the same study), our equipment, and the private block that marks it as ours.
 */
import type { DicomDataset, DicomElement } from './dicom-write.js';
import { type JsonDataset, jsonString } from './dicomweb.js';
import { MANUFACTURER, PRIVATE, PRIVATE_CREATOR } from './identity.js';

/** The patient and study of a source series, as QIDO gives them (absent attributes are empty). */
export interface StudyInfo {
  studyUid: string;
  patientName: string;
  patientId: string;
  patientBirthDate: string;
  patientSex: string;
  studyDate: string;
  studyTime: string;
  studyId: string;
  accessionNumber: string;
  referringPhysician: string;
}

/** The tags QIDO is asked for to fill StudyInfo (includefield). */
export const STUDY_FIELDS = ['00100010', '00100020', '00100030', '00100040', '00080020', '00080030', '00200010', '00080050', '00080090'];

export function studyInfoFromJson(studyUid: string, ds: JsonDataset): StudyInfo {
  const s = (tag: string) => jsonString(ds, tag) ?? '';
  return {
    studyUid, patientName: s('00100010'), patientId: s('00100020'), patientBirthDate: s('00100030'), patientSex: s('00100040'),
    studyDate: s('00080020'), studyTime: s('00080030'), studyId: s('00200010'), accessionNumber: s('00080050'), referringPhysician: s('00080090'),
  };
}

/** Patient and General Study modules (type 2 attributes written empty when the source has none); the character set is set by writePart10. */
export function patientStudyElements(st: StudyInfo): DicomDataset {
  return [
    { tag: 0x00080020, vr: 'DA', value: st.studyDate },
    { tag: 0x00080030, vr: 'TM', value: st.studyTime },
    { tag: 0x00080050, vr: 'SH', value: st.accessionNumber },
    { tag: 0x00080090, vr: 'PN', value: st.referringPhysician },
    { tag: 0x00100010, vr: 'PN', value: st.patientName },
    { tag: 0x00100020, vr: 'LO', value: st.patientId },
    { tag: 0x00100030, vr: 'DA', value: st.patientBirthDate },
    { tag: 0x00100040, vr: 'CS', value: st.patientSex },
    { tag: 0x0020000d, vr: 'UI', value: st.studyUid },
    { tag: 0x00200010, vr: 'SH', value: st.studyId },
  ];
}

export interface Provenance {
  /** e.g. "0.1.0", the covid-ct package's version. */
  softwareVersion: string;
  modelName: string;
  modelKey: string;
  sourceSeries: string;
}

/** General Equipment and our private block: how our own objects are recognised (identity.ts). */
export function ownershipElements(p: Provenance, role: 'report' | 'heatmap'): DicomDataset {
  return [
    { tag: 0x00080070, vr: 'LO', value: MANUFACTURER },
    { tag: 0x00081090, vr: 'LO', value: p.modelName.slice(0, 64) },
    { tag: 0x00181020, vr: 'LO', value: `covid-ct ${p.softwareVersion}`.slice(0, 64) },
    { tag: PRIVATE.creator, vr: 'LO', value: PRIVATE_CREATOR },
    { tag: PRIVATE.sourceSeries, vr: 'LO', value: p.sourceSeries },
    { tag: PRIVATE.modelKey, vr: 'LO', value: p.modelKey },
    { tag: PRIVATE.role, vr: 'LO', value: role },
  ];
}

/** Content date and time (and the UTC offset they are in). */
export function contentDateTime(now: Date): DicomElement[] {
  const iso = now.toISOString();
  return [
    { tag: 0x00080023, vr: 'DA', value: iso.slice(0, 10).replaceAll('-', '') },
    { tag: 0x00080033, vr: 'TM', value: iso.slice(11, 19).replaceAll(':', '') },
    { tag: 0x00080201, vr: 'SH', value: '+0000' },
  ];
}

/** An item of a code sequence. */
export function code(value: string, scheme: string, meaning: string): DicomDataset {
  return [
    { tag: 0x00080100, vr: 'SH', value },
    { tag: 0x00080102, vr: 'SH', value: scheme },
    { tag: 0x00080104, vr: 'LO', value: meaning },
  ];
}

/** A referenced SOP (class and instance). */
export function sopRef(sopClass: string, sopInstance: string): DicomDataset {
  return [
    { tag: 0x00081150, vr: 'UI', value: sopClass },
    { tag: 0x00081155, vr: 'UI', value: sopInstance },
  ];
}
